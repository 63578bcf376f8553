"""What callers send to the pool and get back (pure data, JSON-able)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cloacinactl.values import value

from .outcome import TaskError
from .sources import Source


@value
class TaskRequest:
    """One task attempt to run.

    ``function`` is an optional code reference (``"module:qualname"``, or a
    ``qualname`` inside a module source) used when the source has no
    collection entry for the task (plain module sources); without it a module
    source's attribute named ``task_id`` is called. ``timeout`` is in seconds
    of run time in the worker (waiting for a free worker does not count).
    """

    source: Source
    workflow: str
    task_id: str
    # stored JSON text (JsonText) is sent as it is, not decoded and encoded again
    context: Mapping[str, Any] = field(default_factory=dict)
    execution_id: str = ""
    attempt: int = 1
    timeout: float | None = None
    function: str | None = None
    # slot -> {field: value}: beside the context, never in it (and never in a repr)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def wire_args(self) -> dict[str, Any]:
        """The ``run_task`` request args."""
        args = {
            "source": self.source.to_dict(),
            "workflow": self.workflow,
            "task_id": self.task_id,
            "function": self.function,
            "context": self.context,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "timeout": self.timeout,
        }
        if self.secrets:
            args["secrets"] = self.secrets
        return args


@value
class Output:
    """Captured output of one call: stdout/stderr text and logging records."""

    stdout: str = ""
    stderr: str = ""
    logs: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Output:
        """Parse the capture fields of a worker result."""
        logs = data.get("logs") or []
        return cls(
            stdout=str(data.get("stdout") or ""),
            stderr=str(data.get("stderr") or ""),
            logs=tuple(r for r in logs if isinstance(r, dict)),
        )


@value
class TaskResult:
    """The outcome of one task attempt.

    ``status`` is ``"completed"`` (``output`` holds the output context) or
    ``"failed"`` (``error`` says why; see ``outcome.TaskError`` for kinds).
    ``execution_id``/``task_id``/``attempt`` tag the captured ``output``.
    """

    status: str
    execution_id: str
    task_id: str
    attempt: int
    output: dict[str, Any] | None = None
    error: TaskError | None = None
    captured: Output = Output()
    worker: int | None = None
    pid: int | None = None
    duration_s: float = 0.0
    source_cached: bool = False

    @property
    def ok(self) -> bool:
        """Whether the attempt completed."""
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for events and logs)."""
        return {
            "status": self.status,
            "execution_id": self.execution_id,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "output": self.output,
            "error": None if self.error is None else self.error.to_dict(),
            "stdout": self.captured.stdout,
            "stderr": self.captured.stderr,
            "logs": list(self.captured.logs),
            "worker": self.worker,
            "pid": self.pid,
            "duration_s": self.duration_s,
            "source_cached": self.source_cached,
        }


@dataclass(frozen=True)
class LoadResult:
    """The outcome of loading a source into a worker."""

    source_id: str
    description: dict[str, Any] | None
    error: TaskError | None = None
    cached: bool = False
    captured: Output = Output()
    worker: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the source imported."""
        return self.error is None


@dataclass(frozen=True)
class TriggerPoll:
    """The outcome of one poll-trigger call: fire (with an optional context) or not."""

    trigger: str
    fire: bool
    context: dict[str, Any] | None = None
    error: TaskError | None = None
    captured: Output = Output()
    worker: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the poll ran without error (a skip is ok)."""
        return self.error is None


@dataclass(frozen=True)
class RawReply:
    """A worker's reply to one call, or why there is none."""

    result: dict[str, Any] | None
    error: TaskError | None
    captured: dict[str, Any]
    worker: int
    pid: int

"""How the executor runs one task attempt: a small protocol and an in-process runner.

The executor (the supervisor side) only needs ``await runner.run_task(request)``.
The production implementation is the worker pool (task code in child
processes, see :mod:`cloacinactl.workers`); :class:`InProcessTaskRunner`
runs trusted code in this process and serves tests, benchmarks and embedded
use where isolation is not wanted.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from functools import partial
from typing import Any, Protocol, runtime_checkable

import trio

from cloacinactl.values import value


@value
class TaskRequest:
    """One attempt of one task: what to run and with which input."""

    execution_id: str
    workflow: str
    task_id: str
    attempt: int
    context: Mapping[str, Any]  # a claimed task's is its stored JSON text (JsonText)
    code: dict[str, Any]
    function: str | None = None
    timeout_s: float | None = None
    # slot -> {field: value}, resolved at dispatch; beside the context, never in a repr
    secrets: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)


@value
class TaskOutcome:
    """The result of one attempt: an output context, or an error (kind + message)."""

    ok: bool
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    captured: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failure(cls, kind: str, message: str, *, transient: bool = False) -> TaskOutcome:
        return cls(False, error={"kind": kind, "message": message, "transient": transient})


class TaskRunner(Protocol):
    async def run_task(self, request: TaskRequest) -> TaskOutcome: ...


DeliverOutcome = Callable[[int, TaskOutcome], None]


@runtime_checkable
class BatchTaskRunner(TaskRunner, Protocol):
    """A runner that also takes many attempts at once (the worker pool): it calls
    ``deliver(i, outcome)`` exactly once per ``requests[i]``, as each finishes."""

    async def run_tasks(self, requests: Sequence[TaskRequest], deliver: DeliverOutcome) -> None: ...


def _resolve(code: dict[str, Any], function: str | None, task_id: str) -> Callable[..., Any]:
    reference = function or task_id
    module_name, _, qualname = reference.rpartition(":")
    if not module_name:
        module_name = str(code.get("module", ""))
    for entry in reversed(list(code.get("sys_path", []))):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{reference} is not callable")
    return target  # type: ignore[no-any-return]


class InProcessTaskRunner:
    """Run task functions in this process, by the worker's calling conventions.

    Calls run on a thread (``inline=False``) or directly on the trio thread
    (``inline=True``: fastest, for trivial tasks in benchmarks). No isolation: a
    crash or ``os._exit`` takes the engine down; use the worker pool for that.
    """

    def __init__(self, *, inline: bool = False) -> None:
        self.inline = inline
        self._cache: dict[tuple[str, str, str | None], tuple[Callable[..., Any], bool]] = {}

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        key = (request.workflow, request.task_id, request.function)
        from cloacinactl.workers.calling import TaskHandle, call_task, wants_handle

        cached = self._cache.get(key)
        if cached is None:
            try:
                func = _resolve(request.code, request.function, request.task_id)
            except Exception as exc:  # user code import: any error fails the attempt
                return TaskOutcome.failure("not_found", f"cannot load task: {exc!r}")
            cached = self._cache[key] = (func, wants_handle(func))
        func, pass_handle = cached

        handle = TaskHandle(
            request.execution_id, request.workflow, request.task_id, request.attempt, 0
        )
        call = partial(
            call_task,
            func,
            dict(request.context),
            handle,
            pass_handle=pass_handle,
            secrets=request.secrets or None,
        )
        if self.inline:  # no timeout: a synchronous call cannot be interrupted here
            output, error = call()
        else:
            try:
                with trio.fail_after(request.timeout_s or math.inf):
                    output, error = await trio.to_thread.run_sync(call, abandon_on_cancel=True)
            except trio.TooSlowError:
                return TaskOutcome.failure(
                    "timeout", f"task ran past its {request.timeout_s}s timeout", transient=True
                )
        if error is not None:
            return TaskOutcome(False, error=error.to_dict())
        return TaskOutcome(True, output=output)

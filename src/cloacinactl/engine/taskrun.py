"""How the executor runs one task attempt: a small protocol and an in-process runner.

The executor (the supervisor side) only needs ``await runner.run_task(request)``.
The production implementation is the worker pool (task code in child
processes, see :mod:`cloacinactl.engine.workers`); :class:`InProcessTaskRunner`
runs trusted code in this process and serves tests, benchmarks and embedded
use where isolation is not wanted.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio


@dataclass(frozen=True)
class TaskRequest:
    """One attempt of one task: what to run and with which input."""

    execution_id: str
    workflow: str
    task_id: str
    attempt: int
    context: dict[str, Any]
    code: dict[str, Any]
    function: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
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


def _json_problem(value: Any) -> str | None:
    import json

    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


def normalise_output(result: Any, given: dict[str, Any]) -> TaskOutcome:
    """design §8: a Context or dict is the output, None means "the given context"."""
    if result is None:
        output: Any = given
    elif isinstance(result, dict):
        output = result
    elif hasattr(result, "to_dict") and callable(result.to_dict):
        output = result.to_dict()
    else:
        return TaskOutcome.failure(
            "bad_return",
            f"task returned {type(result).__name__}; return a Context, a dict or None",
        )
    problem = _json_problem(output)
    if problem:
        return TaskOutcome.failure("not_json", f"task output is not JSON: {problem}")
    return TaskOutcome(True, output=dict(output))


class InProcessTaskRunner:
    """Run task functions in this process (sync ones on a thread unless ``inline``)."""

    def __init__(self, *, inline: bool = False) -> None:
        self.inline = inline
        self._cache: dict[tuple[str, str, str | None], Callable[..., Any]] = {}

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        key = (request.workflow, request.task_id, request.function)
        try:
            func = self._cache.get(key) or _resolve(request.code, request.function, request.task_id)
            self._cache[key] = func
        except Exception as exc:  # user code import: any error fails the attempt
            return TaskOutcome.failure("not_found", f"cannot load task: {exc!r}")
        given = dict(request.context)
        arg = _make_context(given)
        try:
            with trio.fail_after(request.timeout_s or float("inf")):
                if inspect.iscoroutinefunction(func):
                    result = await func(arg)
                elif self.inline:
                    result = func(arg)
                else:
                    result = await trio.to_thread.run_sync(func, arg, abandon_on_cancel=True)
        except trio.TooSlowError:
            return TaskOutcome.failure(
                "timeout", f"task ran past its {request.timeout_s}s timeout", transient=True
            )
        except Exception as exc:  # the task raised: a failed attempt
            transient = isinstance(exc, (TimeoutError, ConnectionError))
            return TaskOutcome.failure(
                "exception", f"task raised {type(exc).__name__}: {exc}", transient=transient
            )
        if result is None and arg is not given:
            result = arg
        return normalise_output(result, given)


def _make_context(data: dict[str, Any]) -> Any:
    """The authoring API's Context (a dict view with cloaca's method names)."""
    from cloacinactl.engine.context import Context

    return Context(data)

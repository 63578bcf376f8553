"""Calling user task and trigger functions by the conventions of design §8.

Runs in the worker process. A task is called with a ``cloaca.Context`` built
from the input context, plus a :class:`TaskHandle` as second argument when its
second parameter is named ``handle`` or ``task_handle``. ``async def`` tasks
(and sync functions that return an awaitable) run to completion with
``asyncio.run`` — asyncio, not trio, because that is what user libraries
expect; each call gets a fresh event loop.

Return value: a Context or dict is the output; ``None`` is the given context
with the task's changes (**decision** of design §8); anything else fails the
attempt. The output must be JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .outcome import TaskError, error_from_exception, json_problem, to_json_object
from .redact import Redactor

HANDLE_NAMES = ("handle", "task_handle")


@dataclass(frozen=True)
class TaskHandle:
    """What a task may learn about its own run (passed when it asks for ``handle``)."""

    execution_id: str
    workflow: str
    task_id: str
    attempt: int
    worker: int

    def defer_until(
        self,
        condition: Callable[[], bool],
        poll_interval_ms: int = 1000,
        timeout_ms: int | None = None,
    ) -> None:
        """Block until ``condition()`` is true, checking every ``poll_interval_ms``.

        The attempt's own timeout still applies. Raises ``TimeoutError`` when
        ``timeout_ms`` passes first.
        """
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
        while not condition():
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout_ms} ms")
            time.sleep(poll_interval_ms / 1000)


def wants_handle(function: Callable[..., Any]) -> bool:
    """Whether the function's second parameter asks for a task handle."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[1].name in HANDLE_NAMES


def _run(result: Any) -> Any:
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


Callback = Callable[..., Any] | None


def call_task(
    function: Callable[..., Any],
    context: dict[str, Any],
    handle: TaskHandle,
    on_success: Callback = None,
    on_failure: Callback = None,
    *,
    pass_handle: bool | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[dict[str, Any] | None, TaskError | None]:
    """Run one task attempt and its callback; return (output, None) or (None, error).

    ``pass_handle`` is :func:`wants_handle` of ``function`` when the caller has it
    cached (signature inspection costs a third of a trivial call).

    ``secrets`` (slot -> {field: value}) are readable through the Context's
    ``secret``/``secret_field``; their values are masked in the error, and an
    output holding one fails the attempt (see ``redact.py``).

    ``on_success(task_id, Context(output))`` runs after a completed attempt and
    ``on_failure(task_id, message, Context(input))`` after a failed one (upstream
    cloaca's shapes); a callback that raises is logged and never changes the
    outcome. A worker that dies mid-attempt cannot run ``on_failure``.
    """
    if pass_handle is None:
        pass_handle = wants_handle(function)
    output, error = _attempt(function, context, handle, pass_handle, secrets)
    if secrets:
        output, error = _keep_secret(Redactor.of(secrets), handle.task_id, output, error)
    if error is None and on_success is not None:
        _callback(on_success, "on_success", handle.task_id, output)
    elif error is not None and on_failure is not None:
        _callback(on_failure, "on_failure", handle.task_id, context, error.message)
    return output, error


def _keep_secret(
    redactor: Redactor,
    task_id: str,
    output: dict[str, Any] | None,
    error: TaskError | None,
) -> tuple[dict[str, Any] | None, TaskError | None]:
    """Mask secret values in the error; refuse an output that holds one."""
    if error is not None:
        masked = dataclasses.replace(
            error,
            message=redactor.text(error.message),
            traceback=None if error.traceback is None else redactor.text(error.traceback),
        )
        return output, masked
    slot = redactor.leaked_slot(output)
    if slot is not None:
        return None, TaskError(
            "secret_in_output",
            f"the output of task {task_id!r} holds the value of secret slot {slot!r}; "
            "secret values never enter the context (read them with context.secret where "
            "they are needed)",
        )
    return output, error


def _callback(
    callback: Callable[..., Any], kind: str, task_id: str, data: Any, *message: str
) -> None:
    from cloacinactl.workflow.context import Context

    try:
        _run(callback(task_id, *message, Context(data if isinstance(data, dict) else {})))
    except (Exception, SystemExit) as exc:
        logging.getLogger("cloacina.worker").warning(
            "%s callback of task %r raised %s: %s", kind, task_id, type(exc).__name__, exc
        )


def _attempt(
    function: Callable[..., Any],
    context: dict[str, Any],
    handle: TaskHandle,
    pass_handle: bool,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[dict[str, Any] | None, TaskError | None]:
    from cloacinactl.workflow.context import Context, with_secrets

    what = f"task {handle.task_id!r}"
    problem = json_problem(context)
    if problem is not None or not isinstance(context, dict):
        return None, TaskError("bad_input", f"input context of {what} is not JSON: {problem}")
    try:
        ctx = Context(context)
        if secrets:
            with_secrets(ctx, secrets)
    except Exception as exc:
        return None, error_from_exception("bad_input", exc, f"building the Context of {what}")
    try:
        args: tuple[Any, ...] = (ctx, handle) if pass_handle else (ctx,)
        result = _run(function(*args))
    except (Exception, SystemExit) as exc:
        return None, error_from_exception("exception", exc, what)
    if result is None:
        result = ctx
    if isinstance(result, Context):
        try:
            output: Any = result.to_dict()
        except Exception as exc:
            return None, error_from_exception("not_json", exc, f"the Context returned by {what}")
    elif isinstance(result, dict):
        output = result
    else:
        return None, TaskError(
            "bad_return",
            f"{what} returned {type(result).__name__}; a task must return a Context, "
            "a dict or None",
        )
    problem = json_problem(output)
    if problem is not None:
        return None, TaskError("not_json", f"output of {what} is not JSON: {problem}")
    return to_json_object(output), None


def call_trigger(
    function: Callable[..., Any], name: str
) -> tuple[dict[str, Any] | None, TaskError | None]:
    """Poll a trigger; return ({"fire": bool, "context": dict | None}, None) or an error."""
    what = f"trigger {name!r}"
    try:
        result = _run(function())
    except (Exception, SystemExit) as exc:
        return None, error_from_exception("exception", exc, what)
    return normalise_trigger_result(result, what)


def normalise_trigger_result(
    result: Any, what: str
) -> tuple[dict[str, Any] | None, TaskError | None]:
    """fire(ctx)/skip()/bool → {"fire": bool, "context": dict | None}."""
    if isinstance(result, bool):
        return {"fire": result, "context": None}, None
    fire = _trigger_attr(result, ("should_fire", "fire", "fired", "is_fire"))
    if not isinstance(fire, bool):
        return None, TaskError(
            "bad_return",
            f"{what} returned {type(result).__name__}; a poll trigger must return "
            "TriggerResult.fire(...), TriggerResult.skip() or a bool",
        )
    context = _trigger_attr(result, ("context", "ctx", "payload"))
    if context is not None and not isinstance(context, dict):
        to_dict = getattr(context, "to_dict", None)
        context = to_dict() if callable(to_dict) else context
    if context is not None and not isinstance(context, dict):
        return None, TaskError(
            "bad_return", f"{what} fired with a {type(context).__name__} context, not a dict"
        )
    problem = json_problem(context)
    if problem is not None:
        return None, TaskError("not_json", f"context fired by {what} is not JSON: {problem}")
    return {"fire": fire, "context": None if context is None else to_json_object(context)}, None


def _trigger_attr(result: Any, names: tuple[str, ...]) -> Any:
    for name in names:
        value = getattr(result, name, None)
        if callable(value):
            continue
        if value is not None:
            return value
    return None

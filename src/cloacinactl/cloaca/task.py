"""``@cloaca.task``: declare a task; the function is returned unchanged."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from cloacinactl.cloaca import registry
from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.cloaca.retry import BackoffStrategy, RetryCondition, RetryPolicy
from cloacinactl.cloaca.rules import as_rule
from cloacinactl.workflow import model

F = TypeVar("F", bound=Callable[..., Any])

HANDLE_NAMES = ("handle", "task_handle")
TASK_ATTR = "__cloaca_task__"
TASK_ID_ATTR = "__cloaca_task_id__"


def wants_handle(func: Callable[..., Any]) -> bool:
    """True when the function's second parameter is named ``handle`` or ``task_handle``."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[1].name in HANDLE_NAMES


def dependency_id(dep: Any, index: int) -> str:
    """A dependency given as an id or as a decorated (or plain) function."""
    if isinstance(dep, str):
        if not dep:
            raise CloacaError(f"dependency {index} is an empty string")
        return dep
    tid = getattr(dep, TASK_ID_ATTR, None)
    if isinstance(tid, str):
        return tid
    name = getattr(dep, "__name__", None)
    if isinstance(name, str):
        return name
    raise CloacaError(f"dependency {index} must be a task id or a task function, got {dep!r}")


def build_retry(
    retry: Any,
    attempts: int | None,
    backoff: str | None,
    delay_ms: int | None,
    max_delay_ms: int | None,
    condition: str | None,
    jitter: bool | None,
    *,
    task_id: str,
) -> model.RetryPolicy:
    given = {
        "retry_attempts": attempts,
        "retry_backoff": backoff,
        "retry_delay_ms": delay_ms,
        "retry_max_delay_ms": max_delay_ms,
        "retry_condition": condition,
        "retry_jitter": jitter,
    }
    used = [k for k, v in given.items() if v is not None]
    if retry is not None:
        if used:
            raise CloacaError(
                f"task {task_id!r}: retry= and {', '.join(used)} are mutually exclusive; "
                "put everything in the RetryPolicy"
            )
        if isinstance(retry, RetryPolicy):
            return retry.policy
        if isinstance(retry, model.RetryPolicy):
            return retry
        raise CloacaError(f"task {task_id!r}: retry= takes a cloaca.RetryPolicy, got {retry!r}")
    builder = RetryPolicy.builder()
    try:
        if attempts is not None:
            builder = builder.max_attempts(attempts)
        if backoff is not None:
            builder = builder.backoff_strategy(BackoffStrategy.parse(backoff))
        if delay_ms is not None:
            builder = builder.initial_delay(int(delay_ms) / 1000)
        if max_delay_ms is not None:
            builder = builder.max_delay(int(max_delay_ms) / 1000)
        if condition is not None:
            builder = builder.retry_condition(RetryCondition.parse(condition))
        if jitter is not None:
            builder = builder.with_jitter(bool(jitter))
    except CloacaError as exc:
        raise CloacaError(f"task {task_id!r}: {exc}") from None
    return builder.build().policy


@overload
def task(func: F, /) -> F: ...
@overload
def task(
    func: None = None,
    /,
    *,
    id: str | None = None,
    dependencies: Sequence[Any] | None = None,
    retry_attempts: int | None = None,
    retry_backoff: str | None = None,
    retry_delay_ms: int | None = None,
    retry_max_delay_ms: int | None = None,
    retry_condition: str | None = None,
    retry_jitter: bool | None = None,
    retry: Any = None,
    trigger_rules: Any = None,
    on_success: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    timeout_s: float | None = None,
    description: str | None = None,
    invokes: Any = None,
) -> Callable[[F], F]: ...


def task(
    func: Any = None,
    /,
    *,
    id: str | None = None,
    dependencies: Sequence[Any] | None = None,
    retry_attempts: int | None = None,
    retry_backoff: str | None = None,
    retry_delay_ms: int | None = None,
    retry_max_delay_ms: int | None = None,
    retry_condition: str | None = None,
    retry_jitter: bool | None = None,
    retry: Any = None,
    trigger_rules: Any = None,
    on_success: Callable[..., Any] | None = None,
    on_failure: Callable[..., Any] | None = None,
    timeout_s: float | None = None,
    description: str | None = None,
    invokes: Any = None,
) -> Any:
    """Declare a task. Use bare (``@cloaca.task``) or called (``@cloaca.task(id=...)``).

    The task is registered into the workflow being declared (the innermost
    ``WorkflowBuilder``, else the workflow the loader is importing) and the
    function is returned unchanged. ``invokes=`` names a computation graph (or
    gives its ``ComputationGraphBuilder``) that runs before the function, its
    result set in the context under the graph's name (see
    :mod:`cloacinactl.cloaca.invoke`).
    """

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise CloacaError(f"@cloaca.task decorates a function, got {fn!r}")
        tid = id if id is not None else getattr(fn, "__name__", None)
        if not isinstance(tid, str) or not tid:
            raise CloacaError(f"task id must be a non-empty string, got {tid!r}")
        if isinstance(dependencies, str):
            raise CloacaError(f"task {tid!r}: dependencies must be a list, got a string")
        deps = tuple(dict.fromkeys(dependency_id(d, i) for i, d in enumerate(dependencies or ())))
        if tid in deps:
            raise CloacaError(f"task {tid!r} depends on itself")
        policy = build_retry(
            retry,
            retry_attempts,
            retry_backoff,
            retry_delay_ms,
            retry_max_delay_ms,
            retry_condition,
            retry_jitter,
            task_id=tid,
        )
        try:
            rule = as_rule(trigger_rules)
        except CloacaError as exc:
            raise CloacaError(f"task {tid!r}: {exc}") from None
        for cb_name, cb in (("on_success", on_success), ("on_failure", on_failure)):
            if cb is not None and not callable(cb):
                raise CloacaError(f"task {tid!r}: {cb_name} must be callable, got {cb!r}")
        if timeout_s is not None and timeout_s <= 0:
            raise CloacaError(f"task {tid!r}: timeout_s must be positive, got {timeout_s}")
        doc = description if description is not None else inspect.getdoc(fn)
        definition = model.TaskDef(
            id=tid,
            module=str(getattr(fn, "__module__", "") or ""),
            qualname=str(getattr(fn, "__qualname__", tid)),
            dependencies=deps,
            is_async=inspect.iscoroutinefunction(fn),
            wants_handle=wants_handle(fn),
            retry=policy,
            trigger_rule=rule,
            timeout_s=None if timeout_s is None else float(timeout_s),
            description=doc,
            has_on_success=on_success is not None,
            has_on_failure=on_failure is not None,
        )
        runs: Callable[..., Any] = fn
        if invokes is not None:  # the graph runs first, its result in the context
            from cloacinactl.cloaca.invoke import invoking

            runs = invoking(tid, fn, invokes)
        spec = registry.TaskSpec(definition, runs, on_success, on_failure)
        bucket = registry.current_bucket()
        if bucket is not None:
            bucket.add(spec)
        try:
            setattr(fn, TASK_ATTR, spec)
            setattr(fn, TASK_ID_ATTR, tid)
        except (AttributeError, TypeError):
            pass  # builtins and the like: dependencies fall back to __name__
        return fn

    if func is not None:
        return decorate(func)
    return decorate

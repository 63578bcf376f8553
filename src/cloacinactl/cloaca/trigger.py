"""``@cloaca.trigger`` (cron schedules and poll functions) and ``TriggerResult``."""

from __future__ import annotations

import contextlib
import re
import zoneinfo
from collections.abc import Callable
from typing import Any, TypeVar

from cloacinactl.cloaca import registry
from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.workflow.context import Context, ContextError, to_json_value
from cloacinactl.workflow.model import TriggerDef, TriggerKind

F = TypeVar("F", bound=Callable[..., Any])
TRIGGER_ATTR = "__cloaca_trigger__"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: str | float) -> int:
    """``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``; a bare number is seconds."""
    if isinstance(value, bool):
        raise CloacaError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        ms = round(float(value) * 1000)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise CloacaError(
                f"invalid duration {value!r}; use a number with a unit: 500ms, 30s, 5m, 1h"
            )
        ms = round(float(m.group(1)) * _UNIT_MS[(m.group(2) or "s").lower()])
    if ms <= 0:
        raise CloacaError(f"duration {value!r} must be greater than zero")
    return ms


def validate_cron(expression: str) -> str:
    """5 fields, or 6 with leading seconds; checked with croniter. Returns it normalised."""
    from croniter import croniter  # imported here: only declarations with cron pay for it

    if not isinstance(expression, str):
        raise CloacaError(f"cron must be a string, got {expression!r}")
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise CloacaError(
            f"invalid cron {expression!r}: {len(fields)} fields; use 5 "
            "(min hour day month weekday) or 6 with leading seconds"
        )
    normalised = " ".join(fields)
    if not croniter.is_valid(normalised, second_at_beginning=len(fields) == 6):
        raise CloacaError(f"invalid cron {expression!r}")
    return normalised


def validate_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise CloacaError(
            f"unknown timezone {name!r} (use an IANA name such as 'Europe/Paris')"
        ) from None
    return name


class TriggerResult:
    """What a poll returns: ``TriggerResult.fire(ctx=None)`` or ``TriggerResult.skip()``."""

    __slots__ = ("context", "should_fire")

    def __init__(self, should_fire: bool, context: dict[str, Any] | None = None) -> None:
        self.should_fire = should_fire
        self.context = context

    @classmethod
    def fire(cls, ctx: Context | dict[str, Any] | None = None, **kwargs: Any) -> TriggerResult:
        """Start the workflow, with ``ctx`` (a Context or dict) as its input."""
        given = kwargs.pop("context", ctx)
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        if given is None:
            return cls(True, None)
        if isinstance(given, Context):
            return cls(True, given.to_dict())
        if not isinstance(given, dict):
            raise ContextError(
                f"TriggerResult.fire takes a Context or dict, got {type(given).__name__}"
            )
        return cls(True, to_json_value(given, "fired context"))

    @classmethod
    def skip(cls) -> TriggerResult:
        return cls(False)

    def is_fire_result(self) -> bool:
        return self.should_fire

    def is_skip_result(self) -> bool:
        return not self.should_fire

    def __repr__(self) -> str:
        return (
            f"TriggerResult.fire({self.context!r})" if self.should_fire else "TriggerResult.skip()"
        )


def trigger(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    on: str | None = None,
    workflow: str | None = None,
    poll_interval: str | float = "30s",
    cron: str | None = None,
    timezone: str = "UTC",
    allow_concurrent: bool = False,
) -> Any:
    """Declare a trigger for workflow ``on`` (``workflow=`` is upstream's spelling).

    With ``cron`` it is a schedule; otherwise the function is polled every
    ``poll_interval`` and returns ``TriggerResult.fire(ctx)``, ``.skip()`` or a
    bool. ``on`` defaults to the workflow being declared.
    """
    if on is not None and workflow is not None and on != workflow:
        raise CloacaError(f"trigger: on={on!r} and workflow={workflow!r} disagree")
    target_given = on if on is not None else workflow
    interval_ms = parse_duration_ms(poll_interval)
    cron_expr = None if cron is None else validate_cron(cron)
    tz = validate_timezone(timezone)

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise CloacaError(f"@cloaca.trigger decorates a function, got {fn!r}")
        tname = name if name is not None else getattr(fn, "__name__", None)
        if not isinstance(tname, str) or not tname:
            raise CloacaError(f"trigger name must be a non-empty string, got {tname!r}")
        target = target_given
        if target is None:
            bucket = registry.current_bucket()
            if bucket is None:
                raise CloacaError(f"trigger {tname!r}: say which workflow it starts with on=...")
            target = bucket.name
        definition = TriggerDef(
            name=tname,
            workflow=target,
            kind=TriggerKind.CRON if cron_expr else TriggerKind.POLL,
            module=str(getattr(fn, "__module__", "") or ""),
            qualname=str(getattr(fn, "__qualname__", tname)),
            cron=cron_expr,
            timezone=tz,
            poll_interval_ms=interval_ms,
            allow_concurrent=bool(allow_concurrent),
        )
        spec = registry.TriggerSpec(definition, fn)
        collection = registry.current_collection()
        if collection is not None:
            collection.add_trigger(spec)
        with contextlib.suppress(AttributeError, TypeError):
            setattr(fn, TRIGGER_ATTR, spec)
        return fn

    if func is not None:
        return decorate(func)
    return decorate

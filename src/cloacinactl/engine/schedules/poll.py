"""Poll-trigger rules (design §10): pure, no trio, no I/O.

A poll trigger is a user function called in a worker process; it answers
*fire* (optionally with a payload context), *skip*, or a bool. A fire starts
the trigger's workflow with the payload plus ``trigger_name`` and
``triggered_at``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloacinactl.errors import UserError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(value: str | float | int) -> float:
    """``"30s"``, ``"500ms"``, ``"1m30s"`` or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise UserError(f"invalid poll interval {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().replace(" ", "")
        pos, seconds = 0, 0.0
        for m in _DURATION.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_S[m.group(2).lower()]
            pos = m.end()
        if pos != len(text) or not text:
            raise UserError(
                f"invalid poll interval {value!r}", hint='use e.g. "500ms", "30s", "5m", "1h"'
            )
    if seconds <= 0:
        raise UserError(f"poll interval must be greater than zero, got {value!r}")
    return seconds


@dataclass(frozen=True)
class PollTrigger:
    """One custom-poll trigger of a loaded package."""

    trigger_id: str  # stable key (e.g. "<package>:<trigger name>")
    package: str  # owner: the trigger disappears with its package
    name: str  # trigger_name in the fired context
    workflow: str
    poll_interval_s: float
    allow_concurrent: bool = False


@dataclass(frozen=True)
class PollOutcome:
    """The answer of one poll: fire (with a payload) or skip."""

    fire: bool
    context: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def skip(cls) -> PollOutcome:
        return cls(False)


def interpret_poll_result(value: object) -> PollOutcome:
    """Normalise what a poll function (or the worker relaying it) returned.

    Accepted: a PollOutcome; a bool; None (skip); a mapping with ``fire`` (bool)
    and optional ``context`` (a mapping) — the wire form of ``TriggerResult``;
    or any object with ``should_fire``/``fire`` and ``context`` attributes.
    """
    if isinstance(value, PollOutcome):
        return value
    if value is None:
        return PollOutcome.skip()
    if isinstance(value, bool):
        return PollOutcome(value)
    if isinstance(value, Mapping):
        fire, ctx = value.get("fire"), value.get("context")
    else:
        fire = getattr(value, "should_fire", getattr(value, "fire", None))
        ctx = getattr(value, "context", None)
        to_dict = getattr(ctx, "to_dict", None)
        if callable(to_dict):
            ctx = to_dict()
    if not isinstance(fire, bool):
        raise TypeError(
            f"poll trigger returned {type(value).__name__}; expected TriggerResult.fire(), "
            "TriggerResult.skip() or a bool"
        )
    if ctx is None:
        ctx = {}
    if not isinstance(ctx, Mapping):
        raise TypeError(f"poll trigger context must be a mapping, got {type(ctx).__name__}")
    return PollOutcome(fire, dict(ctx))


def fire_context(payload: Mapping[str, Any], trigger: PollTrigger, now: datetime) -> dict[str, Any]:
    """The execution's input: the payload plus ``trigger_name`` and ``triggered_at``."""
    ctx = dict(payload)
    ctx["trigger_name"] = trigger.name
    ctx["triggered_at"] = now.astimezone(UTC).isoformat()
    return ctx

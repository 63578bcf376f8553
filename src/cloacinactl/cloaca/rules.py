"""Trigger-rule builders: conditions and (non-nesting) combinators, upstream's names."""

from __future__ import annotations

from typing import Any

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.workflow.context import ContextError, to_json_value
from cloacinactl.workflow.model import (
    Condition,
    ConditionKind,
    ModelError,
    Op,
    RuleKind,
    TriggerRule,
)


def _task_name(name: Any, what: str) -> str:
    tid = getattr(name, "__cloaca_task_id__", None)
    if tid is not None:
        return str(tid)
    if isinstance(name, str) and name:
        return name
    raise CloacaError(f"{what}() takes a task id or a @cloaca.task function, got {name!r}")


def task_success(name: Any) -> Condition:
    """True when task ``name`` Completed."""
    return Condition(ConditionKind.TASK_SUCCESS, task=_task_name(name, "task_success"))


def task_failed(name: Any) -> Condition:
    """True when task ``name`` Failed."""
    return Condition(ConditionKind.TASK_FAILED, task=_task_name(name, "task_failed"))


def task_skipped(name: Any) -> Condition:
    """True when task ``name`` was Skipped."""
    return Condition(ConditionKind.TASK_SKIPPED, task=_task_name(name, "task_skipped"))


def context_value(key: str, op: str | Op, value: Any = None) -> Condition:
    """Test context ``key`` with ``op`` (Equals, NotEquals, GreaterThan, LessThan,
    Contains, NotContains, Exists, NotExists, or == != > < eq ne gt lt)."""
    if not isinstance(key, str) or not key:
        raise CloacaError(f"context_value() key must be a non-empty string, got {key!r}")
    try:
        parsed = op if isinstance(op, Op) else Op.parse(str(op))
        plain = to_json_value(value, f"context_value({key!r}) value")
    except (ModelError, ContextError) as exc:
        raise CloacaError(str(exc)) from None
    return Condition(ConditionKind.CONTEXT_VALUE, key=key, op=parsed, value=plain)


_RULE_NAMES = {
    RuleKind.ALL: "all_of",
    RuleKind.ANY: "any_of",
    RuleKind.NONE: "none_of",
    RuleKind.ALWAYS: "always",
}


def _conditions(name: str, args: tuple[Any, ...]) -> tuple[Condition, ...]:
    items: list[Any] = []
    for a in args:
        items.extend(a if isinstance(a, (list, tuple)) else [a])
    if not items:
        raise CloacaError(f"{name}() needs at least one condition")
    for item in items:
        if isinstance(item, TriggerRule):
            raise CloacaError(
                f"{name}() takes conditions (task_success, task_failed, task_skipped, "
                f"context_value), not a rule such as {_RULE_NAMES[item.kind]}(): "
                "rules do not nest"
            )
        if not isinstance(item, Condition):
            raise CloacaError(f"{name}() takes conditions, got {item!r}")
    return tuple(items)


def all_of(*conditions: Any) -> TriggerRule:
    """Run when every condition holds."""
    return TriggerRule(RuleKind.ALL, _conditions("all_of", conditions))


def any_of(*conditions: Any) -> TriggerRule:
    """Run when at least one condition holds."""
    return TriggerRule(RuleKind.ANY, _conditions("any_of", conditions))


def none_of(*conditions: Any) -> TriggerRule:
    """Run when no condition holds."""
    return TriggerRule(RuleKind.NONE, _conditions("none_of", conditions))


def always() -> TriggerRule:
    """Run once dependencies are done, whatever their outcome."""
    return TriggerRule(RuleKind.ALWAYS)


def as_rule(value: Any) -> TriggerRule | None:
    """Normalise a ``trigger_rules=`` argument; a bare condition means ``all_of(cond)``."""
    if value is None or isinstance(value, TriggerRule):
        return value
    if isinstance(value, Condition):
        return TriggerRule(RuleKind.ALL, (value,))
    if isinstance(value, (list, tuple)):
        return all_of(*value)
    raise CloacaError(
        f"trigger_rules must be a rule (all_of, any_of, none_of, always) or a condition, "
        f"got {value!r}"
    )

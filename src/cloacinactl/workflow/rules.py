"""Evaluate a task's trigger rule against its context and its dependencies' states."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloacinactl.workflow.model import (
    Condition,
    ConditionKind,
    Op,
    RuleKind,
    TaskState,
    TriggerRule,
)

_MISSING = object()


def _lookup(context: Mapping[str, Any], key: str) -> Any:
    """Top-level key first; a dotted key also walks nested objects (``a.b``)."""
    if key in context:
        return context[key]
    node: Any = context
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _compare(op: Op, actual: Any, expected: Any) -> bool:
    if op is Op.EXISTS:
        return actual is not _MISSING
    if op is Op.NOT_EXISTS:
        return actual is _MISSING
    if actual is _MISSING:
        # a missing key only satisfies "not" tests
        return op in (Op.NOT_EQUALS, Op.NOT_CONTAINS)
    if op is Op.EQUALS:
        return bool(actual == expected)
    if op is Op.NOT_EQUALS:
        return bool(actual != expected)
    if op in (Op.GREATER_THAN, Op.LESS_THAN):
        try:
            return bool(actual > expected if op is Op.GREATER_THAN else actual < expected)
        except TypeError:
            return False
    contained = _contains(actual, expected)
    return contained if op is Op.CONTAINS else not contained


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, (list, tuple)):
        return item in container
    if isinstance(container, Mapping):
        return item in container
    return False


_OUTCOME = {
    ConditionKind.TASK_SUCCESS: TaskState.COMPLETED,
    ConditionKind.TASK_FAILED: TaskState.FAILED,
    ConditionKind.TASK_SKIPPED: TaskState.SKIPPED,
}


def evaluate_condition(
    cond: Condition, context: Mapping[str, Any], states: Mapping[str, TaskState]
) -> bool:
    if cond.kind is ConditionKind.CONTEXT_VALUE:
        assert cond.key is not None and cond.op is not None
        return _compare(cond.op, _lookup(context, cond.key), cond.value)
    assert cond.task is not None
    return states.get(cond.task) is _OUTCOME[cond.kind]


def evaluate_rule(
    rule: TriggerRule, context: Mapping[str, Any], states: Mapping[str, TaskState]
) -> bool:
    """True when the task should run; False makes it Skipped."""
    results = (evaluate_condition(c, context, states) for c in rule.conditions)
    if rule.kind is RuleKind.ALWAYS:
        return True
    if rule.kind is RuleKind.ALL:
        return all(results)
    if rule.kind is RuleKind.ANY:
        return any(results)
    return not any(results)

import json
from typing import Any

import pytest

from cloacinactl.workflow import (
    Op,
    TaskState,
    evaluate_rule,
    merge_contexts,
    merge_values,
)
from cloacinactl.workflow.model import Condition, ConditionKind, RuleKind, TriggerRule


def cv(key, op, value=None):
    return Condition(ConditionKind.CONTEXT_VALUE, key=key, op=Op.parse(op), value=value)


CTX = {"n": 5, "s": "hello world", "l": [1, 2], "o": {"inner": {"x": True}}, "z": None}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (cv("n", "Equals", 5), True),
        (cv("n", "==", 6), False),
        (cv("n", "NotEquals", 6), True),
        (cv("n", "gt", 4), True),
        (cv("n", ">", 5), False),
        (cv("n", "LessThan", 6), True),
        (cv("n", "lt", "x"), False),  # incomparable types never match
        (cv("s", "Contains", "world"), True),
        (cv("s", "NotContains", "world"), False),
        (cv("l", "Contains", 2), True),
        (cv("o", "Contains", "inner"), True),
        (cv("o.inner.x", "eq", True), True),
        (cv("z", "Exists"), True),  # present with a null value
        (cv("missing", "Exists"), False),
        (cv("missing", "NotExists"), True),
        (cv("missing", "NotEquals", 1), True),
        (cv("missing", "Equals", None), False),
        (cv("missing", "GreaterThan", 0), False),
    ],
)
def test_context_value_conditions(cond, expected):
    assert evaluate_rule(TriggerRule(RuleKind.ALL, (cond,)), CTX, {}) is expected


def test_task_outcome_conditions_and_combinators():
    states = {"a": TaskState.COMPLETED, "b": TaskState.FAILED, "c": TaskState.SKIPPED}
    ok = Condition(ConditionKind.TASK_SUCCESS, task="a")
    failed = Condition(ConditionKind.TASK_FAILED, task="b")
    skipped = Condition(ConditionKind.TASK_SKIPPED, task="c")
    not_failed_a = Condition(ConditionKind.TASK_FAILED, task="a")
    assert evaluate_rule(TriggerRule(RuleKind.ALL, (ok, failed, skipped)), {}, states)
    assert not evaluate_rule(TriggerRule(RuleKind.ALL, (ok, not_failed_a)), {}, states)
    assert evaluate_rule(TriggerRule(RuleKind.ANY, (not_failed_a, skipped)), {}, states)
    assert not evaluate_rule(TriggerRule(RuleKind.ANY, (not_failed_a,)), {}, states)
    assert evaluate_rule(TriggerRule(RuleKind.NONE, (not_failed_a,)), {}, states)
    assert not evaluate_rule(TriggerRule(RuleKind.NONE, (not_failed_a, ok)), {}, states)
    assert evaluate_rule(TriggerRule(RuleKind.ALWAYS), {}, {})


def test_objects_deep_merge_arrays_union_scalars_last_writer_wins():
    left = {"cfg": {"a": 1, "nested": {"x": 1}}, "items": [1, {"k": 1}], "v": "old", "t": 1}
    right = {"cfg": {"b": 2, "nested": {"y": 2}}, "items": [{"k": 1}, 3, 1], "v": "new", "t": [1]}
    assert merge_values(left, right) == {
        "cfg": {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}},
        "items": [1, {"k": 1}, 3],
        "v": "new",
        "t": [1],
    }
    assert left["cfg"] == {"a": 1, "nested": {"x": 1}}  # inputs untouched


def test_merge_contexts_is_ordered_and_handles_empty():
    assert merge_contexts([]) == {}
    assert merge_contexts([{"a": 1}, {"a": 2}, {"b": 3}]) == {"a": 2, "b": 3}
    assert merge_contexts([{"a": 2}, {"a": 1}]) == {"a": 1}
    # array dedup compares JSON values, dict key order irrelevant
    assert merge_contexts([{"l": [{"a": 1, "b": 2}]}, {"l": [{"b": 2, "a": 1}]}]) == {
        "l": [{"a": 1, "b": 2}]
    }


def test_equal_arrays_merge_as_the_element_by_element_union_does():
    rows = [{"id": i, "tags": ["a", "b"]} for i in range(50)]
    assert merge_values(rows, [dict(r) for r in rows]) == rows
    assert merge_values([1, 1, 2], [1, 1, 2]) == [1, 1, 2]  # the left's repeats stay
    # JSON tells 1, 1.0 and true apart even where Python's == does not
    assert merge_values([1], [True]) == [1, True]
    assert merge_values([1], [1.0]) == [1, 1.0]
    assert merge_values([{"a": 1, "b": 2}], [{"b": 2, "a": 1}]) == [{"a": 1, "b": 2}]
    merged = merge_contexts([{"rows": rows}, {"rows": list(rows)}, {"rows": [*rows, {"id": 99}]}])
    assert merged["rows"] == [*rows, {"id": 99}]


@pytest.mark.parametrize(
    ("left", "right", "union"),
    [
        # equal for Python's ==, not for JSON: deep inside, and at the top
        ([{"a": 1}], [{"a": True}], [{"a": 1}, {"a": True}]),
        ([{"a": [1.0]}], [{"a": [1]}], [{"a": [1.0]}, {"a": [1]}]),
        ([0, 1], [False, 1], [0, 1, False]),
        # the same JSON built differently: keys in another order, one string object shared
        ([{"a": 1, "b": [2]}], [{"b": [2], "a": 1}], [{"a": 1, "b": [2]}]),
        (["".join("xy"), "".join("xy")], ["xy", "xy"], ["xy", "xy"]),
    ],
)
def test_arrays_equal_for_python_merge_by_their_json(
    left: list[Any], right: list[Any], union: list[Any]
) -> None:
    merged = merge_values(left, right)
    assert json.dumps(merged) == json.dumps(union)  # == alone cannot tell 1 from true

import json

import pytest

from cloacinactl.workflow import (
    DagError,
    ModelError,
    Op,
    ParamSlot,
    RetryPolicy,
    TaskDef,
    TriggerDef,
    TriggerKind,
    WorkflowDef,
    build_workflow,
    execution_levels,
    topological_order,
)
from cloacinactl.workflow.model import Backoff, Condition, ConditionKind, RuleKind, TriggerRule


def t(tid, *deps, **kw):
    return TaskDef(tid, "pkg.tasks", tid, tuple(deps), **kw)


def test_topological_order_is_stable_in_declaration_order():
    wf = build_workflow("w", [t("setup"), t("c", "setup"), t("a", "setup"), t("merge", "a", "c")])
    assert wf.task_ids == ("setup", "c", "a", "merge")
    assert wf.roots == ("setup",)
    assert execution_levels(wf) == [["setup"], ["c", "a"], ["merge"]]


def test_unknown_dependency_is_named():
    with pytest.raises(DagError, match="task 'b' depends on unknown task 'nope'"):
        build_workflow("w", [t("a"), t("b", "nope")])


def test_cycle_is_named_in_order():
    with pytest.raises(DagError, match=r"cycle a -> c -> b -> a|cycle b -> a -> c -> b"):
        build_workflow("w", [t("a", "b"), t("b", "c"), t("c", "a")])


def test_cycle_message_follows_dependency_flow():
    with pytest.raises(DagError, match=r"dependency cycle (b -> c -> b|c -> b -> c)$"):
        topological_order({"a": [], "b": ["a", "c"], "c": ["b"]}, workflow="w")


def test_duplicate_and_empty_and_self_dependency():
    with pytest.raises(DagError, match="duplicate task id 'a'"):
        build_workflow("w", [t("a"), t("a")])
    with pytest.raises(DagError, match="no tasks"):
        build_workflow("w", [])
    with pytest.raises(DagError, match="depends on itself"):
        build_workflow("w", [t("a", "a")])


def test_rule_must_reference_an_ancestor():
    rule = TriggerRule(RuleKind.ALL, (Condition(ConditionKind.TASK_FAILED, task="b"),))
    with pytest.raises(DagError, match="not one of its"):
        build_workflow("w", [t("a"), t("b"), t("c", "a", trigger_rule=rule)])
    with pytest.raises(DagError, match="unknown task 'zz'"):
        bad = TriggerRule(RuleKind.ALL, (Condition(ConditionKind.TASK_FAILED, task="zz"),))
        build_workflow("w", [t("a"), t("c", "a", trigger_rule=bad)])
    # a transitive ancestor is fine
    build_workflow(
        "w",
        [
            t("a"),
            t("b", "a"),
            t(
                "c",
                "b",
                trigger_rule=TriggerRule(
                    RuleKind.ANY, (Condition(ConditionKind.TASK_SUCCESS, task="a"),)
                ),
            ),
        ],
    )


def test_long_chain_has_no_recursion_limit():
    tasks = [t("t0")] + [t(f"t{i}", f"t{i - 1}") for i in range(1, 3000)]
    wf = build_workflow("chain", tasks)
    assert wf.task_ids[-1] == "t2999"


def test_workflow_round_trips_through_json_and_version_is_stable():
    rule = TriggerRule(
        RuleKind.ANY,
        (
            Condition(ConditionKind.CONTEXT_VALUE, key="n", op=Op.GREATER_THAN, value=3),
            Condition(ConditionKind.TASK_SKIPPED, task="a"),
        ),
    )
    policy = RetryPolicy(max_attempts=5, backoff=Backoff.LINEAR, multiplier=2.0, jitter=False)
    wf = build_workflow(
        "w",
        [t("a", is_async=True), t("b", "a", retry=policy, trigger_rule=rule, timeout_s=2.5)],
        params=[ParamSlot("n", "int"), ParamSlot("name", "str", False, "x")],
        description="d",
        tags={"team": "data"},
    )
    doc = json.loads(json.dumps(wf.to_dict()))
    back = WorkflowDef.from_dict(doc)
    assert back == wf
    assert back.version == wf.version == doc["version"]
    assert back.task("b").trigger_rule == rule and back.task("b").retry == policy


def test_version_changes_with_graph_and_content_hash_but_not_prose():
    a = build_workflow("w", [t("a"), t("b", "a")])
    b = build_workflow("w", [t("a"), t("b")])
    assert a.version != b.version
    assert a.with_content_hash("abc").version != a.version
    prose = build_workflow("w", [t("a", description="doc"), t("b", "a")], description="other")
    assert prose.version == a.version
    retried = build_workflow("w", [t("a", retry=RetryPolicy(max_attempts=9)), t("b", "a")])
    assert retried.version != a.version


def test_trigger_def_round_trip_and_seconds_field():
    trig = TriggerDef("tick", "w", TriggerKind.CRON, "m", "tick", cron="*/3 * * * * *")
    assert TriggerDef.from_dict(json.loads(json.dumps(trig.to_dict()))) == trig
    assert trig.seconds_field
    assert not TriggerDef("t", "w", TriggerKind.CRON, "m", "t", cron="0 * * * *").seconds_field


def test_model_validation_errors():
    with pytest.raises(ModelError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ModelError, match="unknown type"):
        ParamSlot("x", "complex")
    with pytest.raises(ModelError, match="unknown context_value operator"):
        Op.parse("~=")
    assert [Op.parse(s) for s in ("==", "!=", ">", "<", "eq", "ne", "gt", "lt")] == [
        Op.EQUALS,
        Op.NOT_EQUALS,
        Op.GREATER_THAN,
        Op.LESS_THAN,
        Op.EQUALS,
        Op.NOT_EQUALS,
        Op.GREATER_THAN,
        Op.LESS_THAN,
    ]
    assert Op.parse("not_exists") is Op.NOT_EXISTS

from collections.abc import Mapping

from cloacinactl.workflow import (
    ExecutionStatus,
    Op,
    TaskDef,
    TaskState,
    advance_execution,
    build_workflow,
    execution_outcome,
    execution_output,
    initial_transitions,
    next_transitions,
    task_input,
)
from cloacinactl.workflow.model import Condition, ConditionKind, RuleKind, TriggerRule

C, F, S, R, N = (
    TaskState.COMPLETED,
    TaskState.FAILED,
    TaskState.SKIPPED,
    TaskState.RUNNING,
    TaskState.NOT_STARTED,
)


def t(tid, *deps, rule=None):
    return TaskDef(tid, "m", tid, tuple(deps), trigger_rule=rule)


def moves(trs):
    return {tr.task_id: tr.to for tr in trs}


DIAMOND = build_workflow("d", [t("setup"), t("a", "setup"), t("b", "setup"), t("merge", "a", "b")])


def test_new_execution_readies_roots_with_the_input():
    trs = initial_transitions(DIAMOND, {"x": 1})
    assert moves(trs) == {"setup": TaskState.READY}
    assert trs[0].context == {"x": 1}


def test_new_execution_shortcut_matches_the_walk_of_the_graph():
    """Roots without trigger rules take a shortcut; it finds what the walk finds, each
    root with the input as given (read, not copied). A root with a rule still walks."""
    never = TriggerRule(
        RuleKind.ALL, (Condition(ConditionKind.CONTEXT_VALUE, key="go", op=Op.EXISTS),)
    )
    two_roots = build_workflow("r", [t("a"), t("b"), t("c", "a", "b")])
    ruled = build_workflow("q", [t("a"), t("b", rule=never), t("c", "a", "b")])
    assert two_roots.roots_unconditional and not ruled.roots_unconditional
    for wf in (DIAMOND, two_roots, ruled):
        short = initial_transitions(wf, {"x": {"y": 1}})
        walked = next_transitions(wf, {}, {}, {"x": {"y": 1}})
        assert short == walked
        assert [(tr.reason, tr.context) for tr in short] == [
            (tr.reason, tr.context) for tr in walked
        ]
    given = {"x": 1}
    first, second = initial_transitions(two_roots, given)
    assert first.context is given and second.context is given
    assert moves(initial_transitions(ruled, {})) == {"a": TaskState.READY, "b": S}


def test_fan_out_then_join_waits_for_all_dependencies():
    outs = {"setup": {"x": 1}}
    trs = next_transitions(DIAMOND, {"setup": C}, outs)
    assert moves(trs) == {"a": TaskState.READY, "b": TaskState.READY}
    # nothing new while a join dependency still runs; already-ready tasks are not repeated
    assert next_transitions(DIAMOND, {"setup": C, "a": C, "b": R}, outs) == []
    outs |= {"a": {"x": 1, "a": [1]}, "b": {"x": 1, "a": [2], "b": True}}
    trs = next_transitions(DIAMOND, {"setup": C, "a": C, "b": C}, outs)
    assert moves(trs) == {"merge": TaskState.READY}
    assert trs[0].context == {"x": 1, "a": [1, 2], "b": True}


def test_failure_skips_downstream_and_the_skip_carries_the_failure():
    trs = next_transitions(DIAMOND, {"setup": F}, {})
    assert moves(trs) == {"a": S, "b": S, "merge": S}
    assert "dependency failed: setup" in trs[0].reason


def test_rule_skip_counts_as_resolved_for_the_join():
    never = TriggerRule(
        RuleKind.ALL, (Condition(ConditionKind.CONTEXT_VALUE, key="go", op=Op.EXISTS),)
    )
    wf = build_workflow("w", [t("a"), t("b", "a", rule=never), t("c", "b"), t("j", "a", "b")])
    trs = next_transitions(wf, {"a": C}, {"a": {"v": 1}})
    assert moves(trs) == {"b": S, "c": TaskState.READY, "j": TaskState.READY}
    # skipped b passes through what it received
    assert {tr.task_id: tr.context for tr in trs}["c"] == {"v": 1}


def test_explicit_rule_replaces_the_default_failure_handling():
    on_fail = TriggerRule(RuleKind.ALL, (Condition(ConditionKind.TASK_FAILED, task="a"),))
    wf = build_workflow("w", [t("a"), t("handler", "a", rule=on_fail), t("normal", "a")])
    assert moves(next_transitions(wf, {"a": F})) == {"handler": TaskState.READY, "normal": S}
    assert moves(next_transitions(wf, {"a": C}, {"a": {}})) == {
        "handler": S,
        "normal": TaskState.READY,
    }


def test_rules_see_the_merged_context():
    gate = TriggerRule(
        RuleKind.ALL,
        (Condition(ConditionKind.CONTEXT_VALUE, key="n", op=Op.GREATER_THAN, value=2),),
    )
    wf = build_workflow("w", [t("a"), t("b"), t("c", "a", "b", rule=gate)])
    states = {"a": C, "b": C}
    assert moves(next_transitions(wf, states, {"a": {"n": 1}, "b": {"n": 3}})) == {
        "c": TaskState.READY
    }
    assert moves(next_transitions(wf, states, {"a": {"n": 3}, "b": {"n": 1}})) == {"c": S}


def test_task_input_for_roots_and_missing_outputs():
    assert task_input(DIAMOND, "setup", {}, {"i": 1}) == {"i": 1}
    # a Failed dependency without output passes its own input through
    assert task_input(DIAMOND, "merge", {"a": {"a": 1}}, {"i": 1}) == {"a": 1, "i": 1}


class Untouchable(Mapping):
    """An execution input that fails the test if anything reads it."""

    def __getitem__(self, key):
        raise AssertionError("the execution input was read")

    def __iter__(self):
        raise AssertionError("the execution input was read")

    def __len__(self):
        raise AssertionError("the execution input was read")


def test_task_input_reads_the_execution_input_only_where_it_flows():
    outputs = {"setup": {"s": 1}, "a": {"a": 1}, "b": {"b": 1}}
    assert task_input(DIAMOND, "merge", outputs, Untouchable()) == {"a": 1, "b": 1}
    assert task_input(DIAMOND, "a", outputs, Untouchable()) == {"s": 1}
    adv = advance_execution(DIAMOND, {"setup": C, "a": C, "b": C}, outputs, Untouchable())
    assert moves(adv.transitions) == {"merge": TaskState.READY}
    # one contribution is passed on as it is (stored text stays stored text)
    assert task_input(DIAMOND, "a", outputs, Untouchable()) is outputs["setup"]
    done = {"setup": C, "a": C, "b": S, "merge": S}
    assert execution_output(DIAMOND, {"a": outputs["a"]}) is outputs["a"]
    assert advance_execution(DIAMOND, done, {"a": outputs["a"]}).output is outputs["a"]
    # a root without output: its input flows on
    assert task_input(DIAMOND, "merge", {"a": {"a": 1}}, {"i": 1}) == {"a": 1, "i": 1}


def test_long_skip_cascade():
    tasks = [t("t0")] + [t(f"t{i}", f"t{i - 1}") for i in range(1, 2500)]
    wf = build_workflow("chain", tasks)
    trs = next_transitions(wf, {"t0": F})
    assert len(trs) == 2499 and all(tr.to is S for tr in trs)
    assert task_input(wf, "t2499", {}, {"seed": 1}) == {"seed": 1}


def test_execution_outcome():
    assert execution_outcome(DIAMOND, {}) is None
    assert execution_outcome(DIAMOND, {"setup": C, "a": C, "b": R, "merge": N}) is None
    assert execution_outcome(DIAMOND, {"setup": C, "a": C, "b": S, "merge": C}) is (
        ExecutionStatus.COMPLETED
    )
    assert execution_outcome(DIAMOND, {"setup": F, "a": S, "b": S, "merge": S}) is (
        ExecutionStatus.FAILED
    )


def test_execution_output_merges_completed_outputs_in_topological_order():
    outs = {"merge": {"v": "merge", "l": [3]}, "setup": {"v": "setup", "l": [1]}, "a": {"l": [2]}}
    assert execution_output(DIAMOND, outs, {"in": 1}) == {"v": "merge", "l": [1, 2, 3]}
    assert execution_output(DIAMOND, {}, {"in": 1}) == {"in": 1}

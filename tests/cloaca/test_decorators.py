"""@task, @trigger, rules, retry classes and vars: shapes and import-time errors."""

import pytest

import cloacinactl.cloaca as cloaca
from cloacinactl.workflow.model import Backoff, Op, RetryOn, RuleKind, TriggerKind


def declare(fn_factory, name="wf"):
    with cloaca.collect(name) as col:
        fn_factory()
    return col


def test_bare_and_called_forms_return_the_function_unchanged():
    def plain(context):
        return context

    with cloaca.collect("wf") as col:
        assert cloaca.task(plain) is plain
        deco = cloaca.task(id="other", dependencies=[plain])
        assert deco(plain) is plain
    assert col.workflows["wf"].task_ids == ("plain", "other")
    assert col.workflows["wf"].task("other").dependencies == ("plain",)


def test_retry_keywords_build_the_policy():
    def body():
        @cloaca.task(
            retry_attempts=5,
            retry_backoff="linear",
            retry_delay_ms=250,
            retry_max_delay_ms=2000,
            retry_condition="transient",
            retry_jitter=False,
        )
        def a(context): ...

    p = declare(body).workflows["wf"].task("a").retry
    assert (p.max_attempts, p.backoff, p.initial_delay_ms, p.max_delay_ms) == (
        5,
        Backoff.LINEAR,
        250,
        2000,
    )
    assert p.retry_on is RetryOn.TRANSIENT and not p.jitter


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"retry": cloaca.RetryPolicy.default(), "retry_attempts": 2}, "mutually exclusive"),
        ({"retry": "fast"}, "retry= takes a cloaca.RetryPolicy"),
        ({"retry_backoff": "quadratic"}, "unknown retry backoff 'quadratic'"),
        ({"retry_condition": "sometimes"}, "unknown retry condition 'sometimes'"),
        ({"retry_attempts": 0}, "max_attempts must be at least 1"),
        ({"dependencies": "a"}, "dependencies must be a list"),
        ({"id": ""}, "non-empty"),
        ({"on_success": 3}, "on_success must be callable"),
        ({"timeout_s": 0}, "timeout_s must be positive"),
        ({"trigger_rules": "always"}, "trigger_rules must be a rule"),
    ],
)
def test_decorator_errors_are_clear(kwargs, message):
    with pytest.raises(cloaca.CloacaError, match=message), cloaca.collect("wf"):
        cloaca.task(**kwargs)(lambda context: context)


def test_nested_rules_fail_where_they_are_built():
    with pytest.raises(cloaca.CloacaError, match=r"any_of\(\) takes conditions.*do not nest"):
        cloaca.any_of(cloaca.always())
    with pytest.raises(cloaca.CloacaError, match="needs at least one condition"):
        cloaca.all_of()
    with pytest.raises(cloaca.CloacaError, match="unknown context_value operator"):
        cloaca.context_value("k", "approx", 1)
    with pytest.raises(cloaca.CloacaError, match="not a JSON value"):
        cloaca.context_value("k", "==", object())


def test_rule_builders_and_aliases():
    rule = cloaca.none_of(
        cloaca.context_value("n", ">", 3),
        cloaca.context_value("s", "NotContains", "x"),
        [cloaca.task_failed("a"), cloaca.task_skipped("b")],
    )
    assert rule.kind is RuleKind.NONE and len(rule.conditions) == 4
    assert rule.conditions[0].op is Op.GREATER_THAN
    assert cloaca.always().kind is RuleKind.ALWAYS

    def body():
        @cloaca.task
        def a(context): ...

        @cloaca.task
        def b(context): ...

        @cloaca.task(dependencies=[a, b], trigger_rules=cloaca.task_success(a))
        def c(context): ...

    rule_c = declare(body).workflows["wf"].task("c").trigger_rule
    assert rule_c is not None and rule_c.kind is RuleKind.ALL
    assert rule_c.referenced_tasks() == ("a",)


def test_rule_naming_a_non_ancestor_fails_at_import_end():
    def body():
        @cloaca.task
        def a(context): ...

        @cloaca.task(trigger_rules=cloaca.task_failed("a"))
        def b(context): ...

    with pytest.raises(cloaca.CloacaError, match="not one of its"):
        declare(body)


def test_retry_policy_builder_and_classes():
    p = (
        cloaca.RetryPolicy.builder()
        .max_attempts(4)
        .initial_delay(0.5)
        .max_delay(10)
        .backoff_strategy(cloaca.BackoffStrategy.exponential(3.0, 2.0))
        .retry_condition(cloaca.RetryCondition.error_pattern(["timeout"]))
        .with_jitter(False)
        .build()
    )
    assert (p.max_attempts(), p.initial_delay(), p.max_delay(), p.with_jitter()) == (
        4,
        0.5,
        10.0,
        False,
    )
    assert p.calculate_delay(1) == 1.0 and p.calculate_delay(2) == 3.0
    assert p.should_retry(1, "socket timeout") and not p.should_retry(1, "ValueError")
    assert not p.should_retry(4, "timeout")
    d = cloaca.RetryPolicy.default()
    assert (d.max_attempts(), d.initial_delay(), d.max_delay(), d.with_jitter()) == (
        3,
        1.0,
        60.0,
        True,
    )
    assert 0.75 <= d.calculate_delay(1) <= 1.25
    assert repr(cloaca.BackoffStrategy.linear(2)) == "BackoffStrategy.Linear(multiplier=2.0)"
    assert repr(cloaca.RetryCondition.transient_only()) == "RetryCondition.TransientOnly"
    with pytest.raises(cloaca.CloacaError):
        cloaca.RetryPolicy.builder().initial_delay(-1)

    def body():
        @cloaca.task(retry=p)
        def a(context): ...

    assert declare(body).workflows["wf"].task("a").retry == p.policy


def test_transient_classification():
    class Flaky(cloaca.TransientError):
        pass

    assert cloaca.is_transient_exception(Flaky())
    assert cloaca.is_transient_exception(ConnectionResetError())
    assert cloaca.is_transient_exception(TimeoutError())
    assert not cloaca.is_transient_exception(ValueError())


# ----------------------------------------------------------------------- triggers


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h", 3_600_000), ("2", 2000), (1.5, 1500)],
)
def test_durations(text, ms):
    assert cloaca.parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "5 minutes", "-1s", "0s", "1w", "abc"])
def test_bad_durations(bad):
    with pytest.raises(cloaca.CloacaError):
        cloaca.parse_duration_ms(bad)


def test_cron_triggers_five_and_six_fields():
    def body():
        @cloaca.trigger(on="wf", cron="*/5 * * * *")
        def five(): ...

        @cloaca.trigger(name="six", on="wf", cron="*/3  * * * * *", timezone="America/New_York")
        def six_fields(): ...

        @cloaca.task
        def t(context): ...

    col = declare(body)
    five, six = col.triggers
    assert five.kind is TriggerKind.CRON and not five.seconds_field
    assert six.name == "six" and six.cron == "*/3 * * * * *" and six.seconds_field
    assert six.timezone == "America/New_York"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "* * * *"}, "4 fields"),
        ({"cron": "61 * * * *"}, "invalid cron"),
        ({"cron": "* * * * * * *"}, "7 fields"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone 'Mars/Olympus'"),
        ({"poll_interval": "soon"}, "invalid duration"),
        ({"on": "a", "workflow": "b"}, "disagree"),
    ],
)
def test_trigger_errors(kwargs, message):
    with pytest.raises(cloaca.CloacaError, match=message):
        cloaca.trigger(**kwargs)


def test_poll_trigger_defaults_and_results():
    def body():
        @cloaca.trigger(workflow="target", allow_concurrent=True)
        def poll():
            return True

    (trig,) = declare(body).triggers
    assert trig.kind is TriggerKind.POLL and trig.poll_interval_ms == 30_000
    assert trig.workflow == "target" and trig.allow_concurrent
    fired = cloaca.TriggerResult.fire(cloaca.Context({"a": 1}))
    assert fired.is_fire_result() and fired.context == {"a": 1}
    assert cloaca.TriggerResult.fire().context is None
    assert cloaca.TriggerResult.skip().is_skip_result()
    with pytest.raises(cloaca.ContextError):
        cloaca.TriggerResult.fire({"bad": object()})
    with pytest.raises(cloaca.CloacaError, match="say which workflow"):
        cloaca.trigger()(lambda: True)


def test_duplicate_trigger_names():
    def body():
        @cloaca.trigger(on="x")
        def p(): ...

        cloaca.trigger(on="x", name="p")(lambda: True)

    with pytest.raises(cloaca.CloacaError, match="duplicate trigger name 'p'"):
        declare(body)


# ------------------------------------------------------------------------ params/vars


def test_workflow_params_errors():
    with pytest.raises(cloaca.CloacaError, match="unsupported type"):
        cloaca.workflow_params(x=complex)
    with pytest.raises(cloaca.CloacaError, match="not a JSON value"):
        cloaca.workflow_params(x=(str, object()))
    with pytest.raises(cloaca.CloacaError, match="declared twice"), cloaca.collect("wf"):
        cloaca.workflow_params(x=int)
        cloaca.workflow_params(x=str)
    with pytest.raises(cloaca.CloacaError, match="has no tasks"), cloaca.collect("wf"):
        cloaca.workflow_params(x=int)


def test_vars_are_read_at_call_time(monkeypatch):
    monkeypatch.delenv("CLOACINA_VAR_API_URL", raising=False)
    with pytest.raises(cloaca.MissingVariableError, match="CLOACINA_VAR_API_URL"):
        cloaca.var("API_URL")
    assert cloaca.var_or("API_URL", "fallback") == "fallback"
    assert cloaca.var_or("API_URL") is None
    monkeypatch.setenv("CLOACINA_VAR_API_URL", "http://x")
    assert cloaca.var("API_URL") == "http://x"
    assert cloaca.var("api_url") == "http://x"  # upper-case fallback
    assert cloaca.var_or("API_URL", "fallback") == "http://x"


# -------------------------------------------------------------------- WorkflowBuilder


def test_workflow_builder_outside_any_collector():
    with cloaca.WorkflowBuilder("standalone") as builder:

        @cloaca.task
        def first(context):
            context.set("n", 1)

        @cloaca.task(dependencies=[first])
        def second(context): ...

        @cloaca.task(dependencies=[first])
        def third(context): ...

    wf = builder.workflow
    assert wf is not None
    assert wf.topological_sort() == ["first", "second", "third"]
    assert wf.get_roots() == ["first"] and wf.get_leaves() == ["second", "third"]
    assert wf.get_execution_levels() == [["first"], ["second", "third"]]
    assert wf.can_run_parallel("second", "third") and not wf.can_run_parallel("first", "third")
    assert len(wf.version) == 16


def test_workflow_builder_validation_errors():
    with pytest.raises(cloaca.CloacaError, match="unknown task 'ghost'"):
        cloaca.WorkflowBuilder("w").add_task("ghost")
    with pytest.raises(cloaca.CloacaError, match="has no tasks"), cloaca.WorkflowBuilder("w"):
        pass
    with pytest.raises(cloaca.CloacaError, match="cycle"), cloaca.WorkflowBuilder("w"):
        cloaca.task(id="a", dependencies=["b"])(lambda c: c)
        cloaca.task(id="b", dependencies=["a"])(lambda c: c)

"""collect(): what the loader sees when it imports a package's entry module."""

import importlib
import json

import pytest

import cloacinactl.cloaca as cloaca
from cloacinactl.workflow import TaskState, WorkflowDef, next_transitions


def test_tasks_in_entry_module_and_imported_modules_register(modules):
    modules(
        **{
            "etl.tasks": """
                import cloaca
                from etl import helpers
                from etl.helpers import extract

                @cloaca.task(dependencies=[extract])
                def transform(context):
                    context.set("t", helpers.double(context.get("e")))
                    return context

                @cloaca.task(dependencies=["transform"], retry_attempts=1)
                async def load(context, handle):
                    return {"loaded": True}
            """,
            "etl.helpers": """
                import cloaca

                def double(x):
                    return 2 * x

                @cloaca.task
                def extract(context):
                    context.set("e", 21)
            """,
        }
    )
    with cloaca.collect("etl") as col:
        importlib.import_module("etl.tasks")
    assert list(col.workflows) == ["etl"]
    wf = col.workflows["etl"]
    assert wf.task_ids == ("extract", "transform", "load")
    assert wf.task("load").is_async and wf.task("load").wants_handle
    assert wf.task("load").retry.max_attempts == 1
    assert wf.task("extract").module == "etl.helpers"
    # the description survives JSON and the live callables run
    back = WorkflowDef.from_dict(json.loads(json.dumps(wf.to_dict())))
    assert back.version == wf.version
    ctx = cloaca.Context()
    col.task_function("etl", "extract")(ctx)
    col.task_function("etl", "transform")(ctx)
    assert ctx.to_dict() == {"e": 21, "t": 42}
    with pytest.raises(cloaca.CloacaError, match="no task 'nope'"):
        col.task_function("etl", "nope")


def test_unknown_dependency_fails_at_end_of_import(modules):
    modules(
        bad1="""
        import cloaca

        @cloaca.task(dependencies=["ghost"])
        def a(context):
            return context
    """
    )
    ghost = "depends on unknown task 'ghost'"
    with pytest.raises(cloaca.CloacaError, match=ghost), cloaca.collect("bad1"):
        importlib.import_module("bad1")


def test_cycle_fails_with_the_cycle_named(modules):
    modules(
        bad2="""
        import cloaca

        @cloaca.task(dependencies=["c"])
        def a(context): pass

        @cloaca.task(dependencies=["a"])
        def b(context): pass

        @cloaca.task(dependencies=["b"])
        def c(context): pass
    """
    )
    cycle = r"cycle (a -> b -> c -> a|b -> c -> a -> b|c -> a -> b -> c)"
    with pytest.raises(cloaca.CloacaError, match=cycle), cloaca.collect("bad2"):
        importlib.import_module("bad2")


def test_duplicate_id_fails_immediately_naming_both(modules):
    modules(
        bad3="""
        import cloaca

        @cloaca.task(id="x")
        def one(context): pass

        @cloaca.task(id="x")
        def two(context): pass
    """
    )
    with (
        pytest.raises(cloaca.CloacaError, match=r"duplicate task id 'x'.*one"),
        cloaca.collect("bad3"),
    ):
        importlib.import_module("bad3")


def test_builders_triggers_and_params_in_one_package(modules):
    modules(
        multi="""
        import cloaca

        @cloaca.workflow_params(source=str, batch=(int, 500))
        @cloaca.task
        def main_task(context):
            return context

        @cloaca.trigger(cron="0 */2 * * *", timezone="Europe/Paris")
        def every_two_hours():
            pass

        with cloaca.WorkflowBuilder("side") as builder:
            builder.description("side workflow")
            builder.tag("team", "data")

            @cloaca.task()
            def s1(context):
                return context

            @cloaca.task(dependencies=[s1], trigger_rules=cloaca.task_success("s1"))
            def s2(context):
                return context

            @cloaca.trigger(poll_interval="500ms")
            def side_poll():
                return cloaca.TriggerResult.fire({"n": 1})
    """
    )
    with cloaca.collect("multi") as col:
        importlib.import_module("multi")
    assert sorted(col.workflows) == ["multi", "side"]
    main = col.workflows["multi"]
    assert [p.to_dict() for p in main.params] == [
        {"name": "source", "type": "str", "required": True, "default": None},
        {"name": "batch", "type": "int", "required": False, "default": 500},
    ]
    side = col.workflows["side"]
    assert side.task_ids == ("s1", "s2") and side.description == "side workflow"
    assert side.to_dict()["tags"] == {"team": "data"}
    names = {t.name: t for t in col.triggers}
    assert names["every_two_hours"].workflow == "multi"
    assert names["every_two_hours"].cron == "0 */2 * * *"
    assert names["side_poll"].workflow == "side" and names["side_poll"].poll_interval_ms == 500
    assert col.trigger_function("side_poll")().context == {"n": 1}
    # the pure state machine runs on what was collected
    trs = next_transitions(side, {"s1": TaskState.COMPLETED}, {"s1": {}})
    assert [(tr.task_id, tr.to) for tr in trs] == [("s2", TaskState.READY)]


def test_builder_add_task_claims_tasks_from_the_default_workflow(modules):
    modules(
        old_style="""
        import cloaca

        @cloaca.task(id="fetch")
        def fetch(context): pass

        @cloaca.task(id="save", dependencies=["fetch"])
        def save(context): pass

        def build():
            b = cloaca.WorkflowBuilder("old_style_wf")
            b.add_task("fetch")
            b.add_task(save)
            return b.build()

        cloaca.register_workflow_constructor("old_style_wf", build)
    """
    )
    with cloaca.collect("old_style") as col:
        importlib.import_module("old_style")
    # the default workflow is empty once the builder claimed its tasks
    assert list(col.workflows) == ["old_style_wf"]
    assert col.workflows["old_style_wf"].task_ids == ("fetch", "save")
    assert col.task_function("old_style_wf", "save").__name__ == "save"


def test_nothing_leaks_between_collectors_and_outside(modules):
    modules(
        first="""
        import cloaca

        @cloaca.task
        def only(context): pass
    """
    )
    with cloaca.collect("first") as col:
        importlib.import_module("first")
    with cloaca.collect("second") as other:
        pass
    assert other.workflows == {} and "first" in col.workflows

    # outside any collector a decorated task is simply returned
    @cloaca.task
    def loose(context):
        return context

    assert loose(cloaca.Context({"a": 1})) == cloaca.Context({"a": 1})
    from cloacinactl.cloaca import registry

    assert registry.scopes() == ()


def test_error_in_body_does_not_validate_or_leave_scope_behind(modules):
    from cloacinactl.cloaca import registry

    with pytest.raises(RuntimeError), cloaca.collect("boom"):
        raise RuntimeError("import failed")
    assert registry.scopes() == ()

"""Design §8-§9 on both backends: flow, merge, rules, retries, failure, cancel, events."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import flows
import pytest
import trio

from cloacinactl.engine.runner import Runner
from cloacinactl.errors import CloacinaError, NotFoundError
from cloacinactl.workflow.dag import DagError
from cloacinactl.workflow.model import TaskDef, WorkflowDef


async def test_simple_workflow_events_are_dense_and_ordered(runner: Runner, tmp_path: Path) -> None:
    await runner.aregister(flows.simple(), flows.CODE)
    result = await runner.aexecute("simple", {"x": 1, "log": str(tmp_path / "log")}, timeout=20)
    assert result.status == "Completed"
    assert result.output == {"x": 1, "log": str(tmp_path / "log"), "step": True}
    assert result.task_states == {"step": "Completed"}
    events = await runner.events(result.execution_id)
    assert [e["event_type"] for e in events] == [
        "task_created",
        "task_marked_ready",
        "workflow_started",
        "task_claimed",
        "task_started",
        "task_completed",
        "workflow_completed",
    ]
    assert [e["sequence_num"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["created_at"].tzinfo is not None for e in events)


async def test_pipeline_passes_context_along(runner: Runner) -> None:
    await runner.aregister(flows.pipeline(), flows.CODE)
    result = await runner.aexecute("pipeline", {"seed": "s"}, timeout=20)
    assert result.status == "Completed"
    assert result.output is not None
    assert result.output["a"] == 1 and result.output["b"] == 2 and result.output["c"] == 3
    assert result.output["items"] == ["a", "b", "c"]
    assert result.output["seed"] == "s"


async def test_parallel_branches_merge_deeply(runner: Runner, tmp_path: Path) -> None:
    await runner.aregister(flows.parallel(), flows.CODE)
    log = tmp_path / "log"
    result = await runner.aexecute("parallel", {"log": str(log)}, timeout=20)
    assert result.status == "Completed", result.tasks
    out = result.output or {}
    # arrays concatenate without duplicates, objects merge deeply
    assert out["items"] == ["a", "b", "c"]
    assert out["nested"] == {"from_a": True, "from_b": True, "from_c": True}
    assert "merged" in out and "b" in out["merged"] and "c" in out["merged"]
    lines = log.read_text().split()
    assert lines[0].endswith(":a") and lines[-1].endswith(":merge")


async def test_retry_then_success_records_each_attempt(runner: Runner, tmp_path: Path) -> None:
    wf = flows.build_workflow("flaky", [flows.task("flaky", retry=flows.EXPONENTIAL)])
    await runner.aregister(wf, flows.CODE)
    result = await runner.aexecute(
        "flaky", {"log": str(tmp_path / "log"), "fail_times": 2}, timeout=20
    )
    assert result.status == "Completed"
    assert result.tasks["flaky"].attempt == 3
    events = await runner.events(result.execution_id)
    retries = [e for e in events if e["event_type"] == "task_retry_scheduled"]
    assert len(retries) == 2
    assert "flaky failure #1" in retries[0]["event_data"]["error"]["message"]
    # exponential, no jitter: 10 ms then 20 ms
    assert [r["event_data"]["delay_ms"] for r in retries] == [10, 20]
    assert Counter(e["event_type"] for e in events)["task_started"] == 3


async def test_exhausted_retries_fail_task_skip_dependents_and_run_handler(
    runner: Runner, tmp_path: Path
) -> None:
    await runner.aregister(flows.failing(), flows.CODE)
    log = tmp_path / "log"
    result = await runner.aexecute("failing", {"log": str(log)}, timeout=20)
    assert result.status == "Failed"
    assert result.task_states == {"boom": "Failed", "after": "Skipped", "handler": "Completed"}
    assert result.tasks["boom"].attempt == 3
    assert "boom went the task" in (result.tasks["boom"].error or "")
    assert log.read_text().split().count(":boom") == 3
    events = await runner.events(result.execution_id)
    kinds = [e["event_type"] for e in events]
    assert kinds.count("task_failed") == 1 and kinds.count("task_retry_scheduled") == 2
    assert kinds[-1] == "workflow_failed"
    failed = next(e for e in events if e["event_type"] == "task_failed")
    assert failed["task_name"] == "boom"
    assert "ValueError" in failed["event_data"]["error"]["message"]


async def test_trigger_rule_false_skips_and_skip_is_resolved(runner: Runner) -> None:
    await runner.aregister(flows.gated(), flows.CODE)
    no = await runner.aexecute("gated", {"go": False}, timeout=20)
    assert no.status == "Completed"
    assert no.task_states == {"a": "Completed", "b": "Skipped", "c": "Completed"}
    yes = await runner.aexecute("gated", {"go": True}, timeout=20)
    assert yes.task_states == {"a": "Completed", "b": "Completed", "c": "Completed"}


@pytest.mark.parametrize(
    ("func", "reason"),
    [
        ("returns_int", "bad_return"),
        ("returns_bad_json", "not_json"),
        ("sets_bad_value", "not a JSON value"),
        ("boom", "boom went the task"),
    ],
)
async def test_bad_task_results_are_clear_failed_attempts(
    runner: Runner, func: str, reason: str
) -> None:
    await runner.aregister(flows.single(f"bad_{func}", func), flows.CODE)
    ok_wf = flows.simple(f"ok_{func}")
    await runner.aregister(ok_wf, flows.CODE)
    bad_id = await runner.start_execution(f"bad_{func}", {})
    good = await runner.aexecute(f"ok_{func}", {}, timeout=20)
    bad = await runner.wait(bad_id, timeout=20)
    assert good.status == "Completed"  # the engine keeps serving others
    assert bad.status == "Failed"
    events = await runner.events(bad_id)
    failed = [e for e in events if e["event_type"] == "task_failed"]
    assert len(failed) == 1
    error = failed[0]["event_data"]["error"]
    assert reason in f"{error['kind']}: {error['message']}"


async def test_timeout_is_a_failed_attempt(runner: Runner) -> None:
    wf = flows.single("slow", "sleepy", timeout=0.05)
    await runner.aregister(wf, flows.CODE)
    result = await runner.aexecute("slow", {"sleep": 2}, timeout=20)
    assert result.status == "Failed"
    assert "timeout" in (result.tasks["only"].error or "")


async def test_cancel_skips_pending_tasks(runner: Runner, tmp_path: Path) -> None:
    wf = flows.build_workflow(
        "blocking", [flows.task("wait", "wait_for_file"), flows.task("next", "noop", ("wait",))]
    )
    await runner.aregister(wf, flows.CODE)
    gate = tmp_path / "gate"
    log = tmp_path / "log"
    eid = await runner.start_execution("blocking", {"gate": str(gate), "log": str(log)})
    with trio.fail_after(20):
        while not log.exists():
            await trio.sleep(0.01)
    assert await runner.acancel(eid) is True
    assert await runner.acancel(eid) is False  # already terminal
    gate.touch()
    result = await runner.wait(eid, timeout=20)
    assert result.status == "Cancelled"
    with trio.fail_after(20):
        while (await runner.result(eid)).tasks["wait"].state == "Running":
            await trio.sleep(0.02)
    final = await runner.result(eid)
    assert final.task_states == {"wait": "Completed", "next": "Skipped"}
    kinds = [e["event_type"] for e in await runner.events(eid)]
    assert "workflow_cancelled" in kinds
    assert "task_marked_ready" not in kinds[kinds.index("workflow_cancelled") :]


async def test_register_rejects_cycles_and_dangling_dependencies(runner: Runner) -> None:
    cyclic = WorkflowDef(
        "cyclic",
        (
            TaskDef("x", "flows", "noop", dependencies=("y",)),
            TaskDef("y", "flows", "noop", dependencies=("x",)),
        ),
    )
    with pytest.raises(DagError, match="cycle"):
        await runner.aregister(cyclic, flows.CODE)
    dangling = WorkflowDef("dangling", (TaskDef("x", "flows", "noop", dependencies=("nope",)),))
    with pytest.raises(DagError, match="unknown task 'nope'"):
        await runner.aregister(dangling, flows.CODE)


async def test_unknown_workflow_and_non_json_input_are_rejected(runner: Runner) -> None:
    with pytest.raises(NotFoundError):
        await runner.start_execution("missing", {})
    await runner.aregister(flows.simple("gone"), flows.CODE)
    assert await runner.aunregister("gone") == 1
    with pytest.raises(NotFoundError):
        await runner.start_execution("gone", {})
    await runner.aregister(flows.simple(), flows.CODE)
    with pytest.raises(CloacinaError, match="not a JSON value"):
        await runner.start_execution("simple", {"when": object()})


async def test_in_flight_execution_keeps_its_version(runner: Runner, tmp_path: Path) -> None:
    v1 = flows.build_workflow(
        "versioned", [flows.task("wait", "wait_for_file"), flows.task("next", "noop", ("wait",))]
    )
    ver1 = await runner.aregister(v1, flows.CODE)
    gate = tmp_path / "gate"
    first = await runner.start_execution("versioned", {"gate": str(gate)})
    v2 = flows.build_workflow("versioned", [flows.task("step")])
    ver2 = await runner.aregister(v2, flows.CODE)
    assert ver1 != ver2
    gate.touch()
    second = await runner.aexecute("versioned", {}, timeout=20)
    old = await runner.wait(first, timeout=20)
    assert old.workflow_version == ver1 and set(old.task_states) == {"wait", "next"}
    assert second.workflow_version == ver2 and set(second.task_states) == {"step"}
    assert old.status == second.status == "Completed"


async def test_async_tasks_and_task_handles(runner: Runner) -> None:
    wf = flows.build_workflow(
        "conventions",
        [flows.task("first", "async_step"), flows.task("second", "with_handle", ("first",))],
    )
    await runner.aregister(wf, flows.CODE)
    result = await runner.aexecute("conventions", {}, timeout=20)
    assert result.status == "Completed"
    assert result.output is not None and result.output["async"] is True
    assert result.output["seen"] == {
        "execution": result.execution_id,
        "task": "second",
        "attempt": 1,
    }

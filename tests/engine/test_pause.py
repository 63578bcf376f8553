"""Paused executions: held durably, on every engine sharing the database, until resumed.

"Nothing new starts" is checked after the engine has demonstrably looked for work:
the outcome that would have made the next task Ready is committed, then the
executor is kicked until it has run several more claim cycles (no sleeps).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flows
import pytest
import trio
from sqlalchemy import inspect, select

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner
from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.store import executions, lifecycle, open_store
from cloacinactl.store import schema as s
from cloacinactl.store.executions import ExecutionResult
from cloacinactl.store.fastsql import sql_for
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import TaskDef

FAST = ExecutorConfig(
    concurrency=8, poll_interval_s=0.02, heartbeat_interval_s=0.2, stale_after_s=2.0
)
ONE_SLOT = dataclasses.replace(FAST, concurrency=1)


def held(name: str = "held") -> Any:
    """``hold`` blocks on the gate file; ``b`` and ``c`` follow it."""
    return build_workflow(
        name,
        [
            flows.task("hold", "wait_for_file"),
            flows.task("b", deps=("hold",)),
            flows.task("c", deps=("b",)),
        ],
    )


def blocker() -> Any:
    return build_workflow("blocker", [flows.task("hold", "wait_for_file")])


def runs(log: Path, name: str) -> int:
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.endswith(f":{name}"))


async def until(check: Callable[[], Any]) -> None:
    with trio.fail_after(30):
        while not check():
            await trio.sleep(0.01)


async def types(runner: Runner, eid: str) -> list[str]:
    return [e["event_type"] for e in await runner.events(eid)]


async def until_event(runner: Runner, eid: str, event_type: str) -> None:
    with trio.fail_after(30):
        while event_type not in await types(runner, eid):
            await trio.sleep(0.01)


async def settle(runner: Runner, cycles: int = 3) -> None:
    """Kick the executor until it has run ``cycles`` more claim cycles."""
    stats = runner.executor.stats
    target = stats["cycles"] + cycles
    with trio.fail_after(30):
        while stats["cycles"] < target:
            runner.executor.kick()
            await trio.sleep(0.01)


async def claimed(runner: Runner, eid: str) -> list[dict[str, Any]]:
    return [e for e in await runner.events(eid) if e["event_type"] == "task_claimed"]


def outputs(runner: Runner, eid: str) -> dict[str, Any]:
    o = s.tasks.c
    rows = runner.store.read(
        lambda c: c.execute(
            select(o.task_name, o.output_context).where(
                o.execution_id == eid, o.output_context.is_not(None)
            )
        ).all()
    )
    return {name: out for name, out in rows}


async def serve(nursery: trio.Nursery, db_url: str, config: ExecutorConfig = FAST) -> Runner:
    runner = Runner(db_url, config=config, task_runner=InProcessTaskRunner())
    await nursery.start(runner.serve)
    return runner


async def start_held(runner: Runner, wf: Any, tmp_path: Path) -> tuple[str, Path, Path]:
    """Register ``wf``, start it on a closed gate and wait until its first task runs;
    returns (execution id, gate, log)."""
    gate, log = tmp_path / "gate", tmp_path / "log"
    await runner.aregister(wf, flows.CODE)
    eid = await runner.start_execution(wf.name, {"gate": str(gate), "log": str(log)})
    await until(lambda: runs(log, "wait") == 1)
    return eid, gate, log


async def stop(runner: Runner) -> None:
    await runner.ashutdown(5)
    runner.store.close()


async def test_pause_lets_the_running_task_finish_and_starts_nothing_new(
    runner: Runner, tmp_path: Path
) -> None:
    eid, gate, log = await start_held(runner, held(), tmp_path)

    assert await runner.apause(eid, "maintenance window") is True
    assert await runner.apause(eid) is False  # already paused: a no-op
    paused = await runner.result(eid)
    assert paused.status == "Paused" and paused.to_dict()["status"] == "Paused"
    assert paused.pause_reason == "maintenance window" and paused.paused_at is not None
    assert await runner.is_active(eid)
    found, total = runner.store.read(lambda c: executions.list_executions(c, status="Paused"))
    assert [f["id"] for f in found] == [eid] and total == 1
    last = (await runner.events(eid))[-1]
    assert last["event_type"] == "workflow_paused"
    assert last["event_data"] == {"reason": "maintenance window", "from": "Running"}

    gate.touch()  # the running task finishes while paused
    await until_event(runner, eid, "task_completed")
    await settle(runner)
    held_now = await runner.result(eid)
    assert held_now.status == "Paused"
    assert held_now.task_states == {"hold": "Completed", "b": "NotStarted", "c": "NotStarted"}
    assert [e["task_name"] for e in await claimed(runner, eid)] == ["hold"]
    assert runs(log, "b") == 0
    assert outputs(runner, eid)["hold"] == {"gate": str(gate), "log": str(log)}

    assert await runner.aresume(eid) is True
    done = await runner.wait(eid, timeout=30)
    assert done.status == "Completed" and done.output is not None
    assert (done.output["gate"], done.output["b"], done.output["c"]) == (str(gate), 1, 2)
    assert done.paused_at is None and done.pause_reason is None
    events = await runner.events(eid)
    kinds = [e["event_type"] for e in events]
    resumed = kinds.index("workflow_resumed")
    assert kinds.index("workflow_paused") < resumed < kinds.index("workflow_completed")
    assert events[resumed]["event_data"] == {"status": "Running"}
    assert runs(log, "wait") == 1 and runs(log, "b") == 1 and runs(log, "c") == 1


async def test_a_pending_execution_pauses_and_resumes_to_pending(
    db_url: str, nursery: trio.Nursery, tmp_path: Path
) -> None:
    runner = await serve(nursery, db_url, ONE_SLOT)
    await runner.aregister(flows.simple(), flows.CODE)
    busy, gate, log = await start_held(runner, blocker(), tmp_path)
    eid = await runner.start_execution("simple", {"log": str(log)})
    assert (await runner.result(eid)).status == "Pending"  # the only slot is taken

    assert await runner.apause(eid) is True
    assert (await runner.events(eid))[-1]["event_data"] == {"reason": None, "from": "Pending"}
    gate.touch()
    assert (await runner.wait(busy, timeout=30)).ok
    await settle(runner)  # the slot is free now
    still = await runner.result(eid)
    assert (still.status, still.task_states, still.started_at) == (
        "Paused",
        {"step": "Ready"},
        None,
    )
    assert await claimed(runner, eid) == [] and runs(log, "step") == 0

    assert await runner.aresume(eid) is True
    done = await runner.wait(eid, timeout=30)
    assert done.ok and done.started_at is not None and runs(log, "step") == 1
    events = await runner.events(eid)
    kinds = [e["event_type"] for e in events]
    resumed = kinds.index("workflow_resumed")
    assert events[resumed]["event_data"] == {"status": "Pending"}
    assert resumed < kinds.index("workflow_started") < kinds.index("task_claimed")
    await stop(runner)


async def test_pause_and_resume_refuse_finished_and_unknown_executions(
    runner: Runner, tmp_path: Path
) -> None:
    eid, gate, log = await start_held(runner, blocker(), tmp_path)
    assert await runner.aresume(eid) is False  # Running, not paused
    gate.touch()
    assert (await runner.wait(eid, timeout=30)).ok
    with pytest.raises(UserError, match="it is Completed"):
        await runner.apause(eid)
    with pytest.raises(UserError, match="it is Completed"):
        await runner.aresume(eid)

    closed = tmp_path / "closed"  # (not the open gate: it must not finish first)
    cancelled = await runner.start_execution("blocker", {"gate": str(closed), "log": str(log)})
    assert await runner.acancel(cancelled) is True
    with pytest.raises(UserError, match="it is Cancelled"):
        await runner.apause(cancelled)
    closed.touch()

    unknown = str(uuid.uuid4())
    with pytest.raises(NotFoundError):
        await runner.apause(unknown)
    with pytest.raises(NotFoundError):
        await runner.aresume(unknown)
    assert "workflow_paused" not in await types(runner, eid)


async def test_cancel_of_a_paused_execution(runner: Runner, tmp_path: Path) -> None:
    eid, gate, log = await start_held(runner, held(), tmp_path)
    assert await runner.apause(eid) is True
    assert await runner.acancel(eid) is True
    assert (await runner.wait(eid, timeout=30)).status == "Cancelled"
    gate.touch()
    await until_event(runner, eid, "task_completed")  # the running task still finishes
    await settle(runner)
    result = await runner.result(eid)
    assert result.status == "Cancelled"
    assert result.task_states == {"hold": "Completed", "b": "Skipped", "c": "Skipped"}
    assert runs(log, "b") == 0
    kinds = await types(runner, eid)
    assert kinds.index("workflow_paused") < kinds.index("workflow_cancelled")
    with pytest.raises(UserError):
        await runner.aresume(eid)


async def test_when_every_task_finishes_while_paused_it_finishes_on_resume(
    runner: Runner, tmp_path: Path
) -> None:
    eid, gate, log = await start_held(runner, blocker(), tmp_path)
    assert await runner.apause(eid) is True
    waited: list[ExecutionResult] = []

    async def waiter() -> None:
        waited.append(await runner.wait(eid, timeout=60))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        gate.touch()
        await until_event(runner, eid, "task_completed")
        await settle(runner)
        result = await runner.result(eid)
        assert (result.status, result.task_states) == ("Paused", {"hold": "Completed"})
        assert waited == []  # wait() keeps waiting through a pause
        assert await runner.aresume(eid) is True
    assert waited[0].status == "Completed"
    assert waited[0].output == {"gate": str(gate), "log": str(log)}
    kinds = await types(runner, eid)
    assert kinds[-2:] == ["workflow_resumed", "workflow_completed"]


async def test_a_retry_falling_due_while_paused_waits_for_resume(
    runner: Runner, tmp_path: Path
) -> None:
    wf = build_workflow(
        "flaky_held",
        [
            TaskDef("hold", "pause_tasks", "gated_flaky", retry=flows.FAST_RETRY),
            flows.task("b", deps=("hold",)),
        ],
    )
    eid, gate, log = await start_held(runner, wf, tmp_path)
    assert await runner.apause(eid) is True
    gate.touch()  # the first attempt fails while paused: a retry is scheduled
    await until_event(runner, eid, "task_retry_scheduled")
    scheduled = [e for e in await runner.events(eid) if e["event_type"] == "task_retry_scheduled"]
    due = dt.datetime.fromisoformat(scheduled[0]["event_data"]["retry_at"])
    await until(lambda: dt.datetime.now(dt.UTC) > due)
    await settle(runner)
    result = await runner.result(eid)
    assert (result.status, result.task_states["hold"]) == ("Paused", "Ready")
    assert len(await claimed(runner, eid)) == 1 and runs(log, "wait") == 1

    assert await runner.aresume(eid) is True
    done = await runner.wait(eid, timeout=30)
    assert done.ok and done.output is not None and done.output["flaky"] == "ok"
    assert runs(log, "wait") == 2 and len(await claimed(runner, eid)) == 3  # hold twice, b


async def test_a_pause_survives_a_restart(db_url: str, tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        first = await serve(nursery, db_url)
        eid, gate, log = await start_held(first, held(), tmp_path)
        assert await first.apause(eid, "deploy") is True
        # the task is still running: its claim is handed back (reset to Ready)
        assert await first.ashutdown(deadline_s=0.2) is False
    first.store.close()

    async with trio.open_nursery() as nursery:
        second = await serve(nursery, db_url)
        await settle(second)
        result = await second.result(eid)
        assert (result.status, result.pause_reason) == ("Paused", "deploy")
        assert result.task_states == {"hold": "Ready", "b": "NotStarted", "c": "NotStarted"}
        assert "task_reset" in await types(second, eid)
        assert len(await claimed(second, eid)) == 1 and runs(log, "wait") == 1

        gate.touch()
        assert await second.aresume(eid) is True
        done = await second.wait(eid, timeout=30)
        assert done.ok and done.task_states == {
            "hold": "Completed",
            "b": "Completed",
            "c": "Completed",
        }
        assert runs(log, "wait") == 2 and runs(log, "b") == 1
        await stop(second)


async def test_another_engine_does_not_claim_tasks_of_a_paused_execution(
    fresh_pg_url: str, tmp_path: Path
) -> None:
    async with trio.open_nursery() as nursery:
        one = await serve(nursery, fresh_pg_url, ONE_SLOT)
        await one.aregister(flows.simple(), flows.CODE)
        busy, gate, log = await start_held(one, blocker(), tmp_path)
        eid = await one.start_execution("simple", {"log": str(log)})
        assert await one.apause(eid) is True

        other = await serve(nursery, fresh_pg_url)  # free slots, same database
        await settle(other)
        result = await other.result(eid)
        assert (result.status, result.task_states) == ("Paused", {"step": "Ready"})
        assert await claimed(other, eid) == [] and runs(log, "step") == 0

        assert await other.aresume(eid) is True
        assert (await other.wait(eid, timeout=30)).ok
        [claim] = await claimed(other, eid)
        assert claim["event_data"]["claimant_id"] == other.executor.claimant_id
        gate.touch()
        assert (await one.wait(busy, timeout=30)).ok
        await stop(other)
        await stop(one)


def test_thread_api_pauses_and_resumes(tmp_path: Path) -> None:
    gate, log = tmp_path / "gate", tmp_path / "log"
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Runner(url, task_runner=InProcessTaskRunner(), config=FAST) as runner:
        runner.register(held(), flows.CODE)
        eid = runner.submit("held", {"gate": str(gate), "log": str(log)})
        assert runner.pause(eid, "by hand") is True
        assert runner.pause(eid) is False
        gate.touch()
        assert runner.resume(eid) is True
        assert runner.get(eid, timeout=30).status == "Completed"


def test_an_existing_database_gains_the_pause_columns(db_url: str) -> None:
    with open_store(db_url) as store:  # made as migration 1 would have made it

        def downgrade(conn: Any) -> None:
            conn.exec_driver_sql("ALTER TABLE executions DROP COLUMN paused_at")
            conn.exec_driver_sql("ALTER TABLE executions DROP COLUMN pause_reason")
            conn.execute(s.schema_migrations.delete().where(s.schema_migrations.c.version == 2))
            conn.execute(
                s.executions.insert().values(
                    id="old",
                    workflow_name="wf",
                    workflow_version="v1",
                    status="Running",
                    input_context={},
                    created_at=dt.datetime.now(dt.UTC),
                    started_at=dt.datetime.now(dt.UTC),
                )
            )

        store.write(downgrade)
    with open_store(db_url, migrate=False) as store:
        assert store.migrate() == [2]
        assert store.migrate() == []
        columns = store.read(
            lambda c: {col["name"] for col in inspect(c).get_columns("executions")}
        )
        assert {"paused_at", "pause_reason"} <= columns
        assert store.read(lambda c: executions.execution_result(c, "old")).paused_at is None
        sql = sql_for(store.backend, store.schema_name)
        now = dt.datetime.now(dt.UTC)
        assert store.write(lambda c: lifecycle.pause_execution(c, sql, "old", now, "why"))
        old = store.read(lambda c: executions.execution_result(c, "old"))
        assert (old.status, old.pause_reason, old.paused_at) == ("Paused", "why", now)

"""Recovery: tasks of a dead claimant are reset and rerun, abandoned after too many resets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import flows
import trio
from loguru import logger
from sqlalchemy import update

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner
from cloacinactl.store import schema as s


def _config(concurrency: int) -> ExecutorConfig:
    return ExecutorConfig(
        concurrency=concurrency,
        poll_interval_s=0.02,
        heartbeat_interval_s=0.1,
        stale_after_s=1.0,
        max_resets=2,
    )


async def _orphan(
    db_url: str, resets: int, host: str, age: dt.timedelta = dt.timedelta(minutes=5)
) -> str:
    """An execution whose only task is Running under a claimant that no longer heartbeats."""
    idle = Runner(db_url, task_runner=InProcessTaskRunner(), config=_config(0))
    async with trio.open_nursery() as nursery:
        await nursery.start(idle.serve)
        await idle.aregister(flows.simple(), flows.CODE)
        eid = await idle.start_execution("simple", {})
        old = dt.datetime.now(dt.UTC) - age

        def orphan(conn: Any) -> None:
            conn.execute(
                s.claimants.insert().values(
                    id="ghost", hostname=host, pid=2**22 + 7, started_at=old, heartbeat_at=old
                )
            )
            conn.execute(
                update(s.tasks)
                .where(s.tasks.c.execution_id == eid)
                .values(
                    state="Running",
                    claimant_id="ghost",
                    attempt=1,
                    heartbeat_at=old,
                    reset_count=resets,
                )
            )

        await trio.to_thread.run_sync(idle.store.write, orphan)
        await idle.ashutdown(1)
    return eid


async def test_dead_claimants_tasks_are_reset_and_rerun(db_url: str) -> None:
    eid = await _orphan(db_url, 0, "another-host")
    runner = Runner(db_url, task_runner=InProcessTaskRunner(), config=_config(4))
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        result = await runner.wait(eid, timeout=20)
        events = [e["event_type"] for e in await runner.events(eid)]
        await runner.ashutdown(1)
    assert result.status == "Completed"
    assert result.tasks["step"].reset_count == 1
    assert result.tasks["step"].attempt == 1  # the interrupted attempt is not counted
    assert events.count("task_reset") == 1
    assert events.index("task_reset") < events.index("task_completed")


async def test_task_is_abandoned_after_bounded_resets(db_url: str) -> None:
    import socket

    # same host, pid gone: recovered at once, without waiting for staleness
    eid = await _orphan(db_url, 2, socket.gethostname())
    runner = Runner(db_url, task_runner=InProcessTaskRunner(), config=_config(4))
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        result = await runner.wait(eid, timeout=20)
        events = await runner.events(eid)
        await runner.ashutdown(1)
    assert result.status == "Failed"
    assert result.task_states == {"step": "Failed"}
    abandoned = [e for e in events if e["event_type"] == "task_abandoned"]
    assert len(abandoned) == 1 and "abandoned" in abandoned[0]["event_data"]["error"]
    assert events[-1]["event_type"] == "workflow_failed"


async def test_a_waiter_sees_the_execution_recovery_fails(db_url: str) -> None:
    # another host, stale (1 s) only after wait() began: abandoned at a heartbeat, by
    # the recovery that runs beside the writer
    eid = await _orphan(db_url, 2, "another-host", age=dt.timedelta(seconds=0.3))
    runner = Runner(db_url, task_runner=InProcessTaskRunner(), config=_config(4))
    errors: list[str] = []
    sink = logger.add(lambda m: errors.append(str(m)), level="ERROR")
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(runner.serve)
            result = await runner.wait(eid, timeout=20)
            await runner.ashutdown(1)
    finally:
        logger.remove(sink)
    assert result.status == "Failed" and result.task_states == {"step": "Failed"}
    # the waiter was woken from the event loop, not from the recovery's database thread
    assert errors == []

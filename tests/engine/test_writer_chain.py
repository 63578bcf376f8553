"""The writer's thread runs cycles back to back while work is queued (``Executor._chain``):
under load nothing queued meanwhile is lost, and a cycle that fails inside a chain hands
its work back to be applied later, once."""

from __future__ import annotations

import threading
import time
from typing import Any

import flows
import pytest
import trio
from sqlalchemy import text

from cloacinactl.engine import executor as executor_module
from cloacinactl.engine import ops
from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner

CONFIG = ExecutorConfig(concurrency=64, poll_interval_s=0.02, heartbeat_interval_s=0.5)
RUNS = 120


async def run_many(db_url: str) -> tuple[list[str], dict[str, int], int]:
    """RUNS pipelines from 24 concurrent callers; (statuses, executor stats, the
    completed events per task at most)."""
    runner = Runner(db_url, config=CONFIG, task_runner=InProcessTaskRunner(inline=True))
    statuses: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(flows.pipeline(), flows.CODE)

        async def caller(n: int) -> None:
            for _ in range(n):
                result = await runner.aexecute("pipeline", {"seed": 1})
                statuses.append(result.status)

        with trio.fail_after(60):
            async with trio.open_nursery() as callers:
                for _ in range(24):
                    callers.start_soon(caller, RUNS // 24)
        stats = dict(runner.executor.stats)
        store = runner._store
        assert store is not None
        most = store.read(
            lambda c: c.execute(
                text(
                    "SELECT max(n) FROM (SELECT count(*) AS n FROM events"
                    " WHERE event_type = 'task_completed'"
                    " GROUP BY execution_id, task_name) AS per_task"
                )
            ).scalar()
        )
        await runner.ashutdown(5)
    return statuses, stats, int(most or 0)


async def test_short_chains_lose_no_queued_work(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a chain ends after two cycles: work queued as it ends must wait, not vanish
    monkeypatch.setattr(executor_module, "CHAIN_MAX", 2)
    statuses, stats, most = await run_many(db_url)
    assert statuses == ["Completed"] * RUNS
    assert stats["claimed"] == stats["applied"] == RUNS * 3
    assert most == 1


async def test_a_cycle_failing_inside_a_chain_hands_its_work_back(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(executor_module, "CHAIN_MAX", 3)
    calls = {"n": 0, "failed": 0, "chained": 0}
    real_cycle = ops.cycle
    # which cycle of its chain the writer's thread is running (set by _chain below)
    position = threading.local()
    real_chain = executor_module.Executor._chain

    def counting_chain(self: Any, *args: Any) -> Any:
        position.n = 0
        return real_chain(self, *args)

    def flaky_cycle(conn: Any, **kw: Any) -> Any:
        # slow enough that outcomes queue up meanwhile: chains of 2+ cycles happen
        time.sleep(0.003)
        calls["n"] += 1
        position.n = getattr(position, "n", 0) + 1
        chained = position.n > 1 and calls["chained"] < 3
        if chained or calls["n"] % 5 == 0:  # before anything is written: rolled back
            calls["failed"] += 1
            calls["chained"] += chained
            raise RuntimeError("injected cycle failure")
        return real_cycle(conn, **kw)

    requeued = {"n": 0}
    real_requeue = executor_module.Executor._requeue

    def counting_requeue(self: Any, *args: Any) -> None:
        requeued["n"] += 1
        real_requeue(self, *args)

    monkeypatch.setattr(ops, "cycle", flaky_cycle)
    monkeypatch.setattr(executor_module.Executor, "_chain", counting_chain)
    monkeypatch.setattr(executor_module.Executor, "_requeue", counting_requeue)
    statuses, stats, most = await run_many(db_url)
    assert statuses == ["Completed"] * RUNS
    assert stats["claimed"] == stats["applied"] == RUNS * 3
    assert most == 1  # no outcome applied twice
    assert calls["failed"] > 0 and requeued["n"] > 0  # both failure paths were taken

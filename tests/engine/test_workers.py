"""Task code in worker processes: crashes, aborts and hangs cost one attempt, not the engine."""

from __future__ import annotations

import flows
import trio

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.workflow.model import RetryPolicy

TWO_TRIES = RetryPolicy(max_attempts=2, initial_delay_ms=5, max_delay_ms=10)


async def test_crashing_tasks_fail_their_attempts_and_engine_keeps_serving(db_url: str) -> None:
    runner = Runner(db_url, workers=2, config=ExecutorConfig(concurrency=4, poll_interval_s=0.02))
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        try:
            for func in ("exits", "aborts"):
                await runner.aregister(flows.single(func, func, retry=TWO_TRIES), flows.CODE)
            await runner.aregister(flows.single("loops", "loops", timeout=0.5), flows.CODE)
            await runner.aregister(flows.single("prints", "prints"), flows.CODE)
            await runner.aregister(flows.pipeline(), flows.CODE)
            ids = {
                name: await runner.start_execution(name, {})
                for name in ("exits", "aborts", "loops", "prints", "pipeline")
            }
            results = {name: await runner.wait(eid, timeout=60) for name, eid in ids.items()}
            assert results["pipeline"].status == "Completed"
            assert results["prints"].status == "Completed"
            for name in ("exits", "aborts", "loops"):
                assert results[name].status == "Failed", name
            assert results["exits"].tasks["only"].attempt == 2  # retried per policy
            events = {name: await runner.events(eid) for name, eid in ids.items()}
            crash = next(e for e in events["exits"] if e["event_type"] == "task_failed")
            assert crash["event_data"]["error"]["kind"] == "crashed"
            abort = next(e for e in events["aborts"] if e["event_type"] == "task_failed")
            assert abort["event_data"]["error"]["kind"] == "crashed"
            hang = next(e for e in events["loops"] if e["event_type"] == "task_failed")
            assert hang["event_data"]["error"]["kind"] == "timeout"
            done = next(e for e in events["prints"] if e["event_type"] == "task_completed")
            assert "hello from the task" in done["event_data"]["stdout"]
        finally:
            await runner.ashutdown(10)

"""Through the engine: a Runner with a worker memory limit fails the hog's attempts
(retried per policy, events naming the limit) and keeps running everything else."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import RetryPolicy, TaskDef

from .conftest import FLOWS

CODE = {"kind": "module", "module": "wf_memory", "sys_path": [str(FLOWS)]}
TWO_TRIES = RetryPolicy(max_attempts=2, initial_delay_ms=5, max_delay_ms=10)
FAST = ExecutorConfig(concurrency=4, poll_interval_s=0.02)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloacina.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


def single(name: str, func: str) -> object:
    task = TaskDef(id="only", module="wf_memory", qualname=func, retry=TWO_TRIES)
    return build_workflow(name, [task])


async def test_a_memory_hog_fails_per_policy_while_other_executions_complete(
    db_url: str,
) -> None:
    runner = Runner(db_url, workers=2, config=FAST, worker_memory_limit_mb=150)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        try:
            await runner.aregister(single("hog", "hog"), CODE)  # type: ignore[arg-type]
            await runner.aregister(single("quick", "quick"), CODE)  # type: ignore[arg-type]
            hog = await runner.start_execution("hog", {"mib": 400})
            quick = [await runner.start_execution("quick", {"n": i}) for i in range(6)]
            result = await runner.wait(hog, timeout=60)
            assert result.status == "Failed"
            assert result.tasks["only"].attempt == 2, "retried per its policy"
            for execution_id in quick:
                assert (await runner.wait(execution_id, timeout=60)).status == "Completed"
            events = await runner.events(hog)
            errors = {
                e["event_type"]: e["event_data"]["error"]
                for e in events
                if e["event_type"] in ("task_retry_scheduled", "task_failed")
            }
            assert sorted(errors) == ["task_failed", "task_retry_scheduled"], events
            for error in errors.values():
                assert error["kind"] == "memory_limit", error
                assert "exceeded the 150 MiB memory limit" in error["message"]
        finally:
            await runner.ashutdown(10)

"""The Runner as Python users and services drive it: thread API, drain with a deadline."""

from __future__ import annotations

import contextlib
from pathlib import Path

import flows
import trio

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner, TaskOutcome, TaskRequest

FAST = ExecutorConfig(concurrency=4, poll_interval_s=0.02, heartbeat_interval_s=0.2)


def test_thread_api_registers_executes_and_shuts_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Runner(url, task_runner=InProcessTaskRunner(), config=FAST) as runner:
        runner.register(flows.pipeline(), flows.CODE)
        result = runner.execute("pipeline", {"seed": 1}, timeout=20)
        assert result.ok and result.output is not None and result.output["c"] == 3
        eid = runner.submit("pipeline", {})
        assert runner.get(eid, timeout=20).status == "Completed"
    # a second runner on the same database sees the history
    with Runner(url, task_runner=InProcessTaskRunner(), config=FAST) as again:
        assert again.get(eid, timeout=5).task_states == {
            "a": "Completed",
            "b": "Completed",
            "c": "Completed",
        }


async def test_drain_deadline_hands_unfinished_claims_back(db_url: str, tmp_path: Path) -> None:
    wf = flows.build_workflow("gate", [flows.task("wait", "wait_for_file")])
    gate, log = tmp_path / "gate", tmp_path / "log"
    first = Runner(db_url, task_runner=InProcessTaskRunner(), config=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.serve)
        await first.aregister(wf, flows.CODE)
        eid = await first.start_execution("gate", {"gate": str(gate), "log": str(log)})
        with trio.fail_after(20):
            while not log.exists():
                await trio.sleep(0.01)
        assert await first.ashutdown(deadline_s=0.2) is False  # the task is still running
        # handed back by the time ashutdown returns (its store may be closed next)
        states = await trio.to_thread.run_sync(
            first.store.read,
            lambda c: c.exec_driver_sql("SELECT state FROM tasks").scalars().all(),
        )
        assert states == ["Ready"]
    gate.touch()
    second = Runner(db_url, task_runner=InProcessTaskRunner(), config=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(second.serve)
        result = await second.wait(eid, timeout=20)
        events = [e["event_type"] for e in await second.events(eid)]
        await second.ashutdown(5)
    assert result.status == "Completed"
    assert events.count("task_reset") == 1 and events.count("task_completed") == 1


class _PoisonRunner(InProcessTaskRunner):
    """Returns an output the store cannot encode for workflow 'poison' (a runner bug)."""

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        if request.workflow == "poison":
            return TaskOutcome(True, output={"bad": {1, 2}})
        return await super().run_task(request)


async def test_one_poisoned_outcome_does_not_stall_the_engine(db_url: str) -> None:
    runner = Runner(db_url, task_runner=_PoisonRunner(), config=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(flows.simple("poison"), flows.CODE)
        await runner.aregister(flows.pipeline(), flows.CODE)
        await runner.start_execution("poison", {})
        results = [await runner.aexecute("pipeline", {}, timeout=30) for _ in range(3)]
        assert [r.status for r in results] == ["Completed"] * 3
        await runner.ashutdown(1)


async def test_executions_nobody_waits_for_leave_nothing_behind(db_url: str) -> None:
    # a daemon starts executions from schedules and never waits for them: the runner
    # must not keep an entry (event + result) per execution it ever ran
    runner = Runner(db_url, task_runner=InProcessTaskRunner(), config=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(flows.pipeline(), flows.CODE)
        started = [await runner.start_execution("pipeline", {}) for _ in range(30)]
        with trio.fail_after(30):
            while [eid for eid in started if await runner.is_active(eid)]:
                await trio.sleep(0.05)
        # waited-for executions are forgotten too, whether they finished or timed out
        assert (await runner.aexecute("pipeline", {}, timeout=20)).ok
        slow = await runner.start_execution("pipeline", {})
        with contextlib.suppress(trio.TooSlowError):
            await runner.wait(slow, timeout=0)
        # a late wait() still gets the result, from the database
        assert (await runner.wait(started[0], timeout=20)).status == "Completed"
        assert (await runner.wait(slow, timeout=20)).ok
        leftovers = (dict(runner._done), dict(runner._results))
        await runner.ashutdown(5)
    assert leftovers == ({}, {})

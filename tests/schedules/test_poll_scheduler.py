"""The PollScheduler trio shell and the pure poll rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import trio
import trio.testing

from cloacinactl.engine.schedules import (
    PollOutcome,
    PollScheduler,
    PollTrigger,
    interpret_poll_result,
    parse_interval,
)
from cloacinactl.errors import UserError

from .conftest import EPOCH, RecordingStarter, TrioWallClock


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("500ms", 0.5), ("5m", 300), ("1h", 3600), ("1m30s", 90), (2, 2), (0.25, 0.25)],
)
def test_parse_interval(text: str | float, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["", "0s", "10", "5 parsecs", "-1s", 0, True])
def test_parse_interval_rejects(bad: str | int) -> None:
    with pytest.raises(UserError):
        parse_interval(bad)


def test_interpret_poll_results() -> None:
    assert interpret_poll_result(True) == PollOutcome(True)
    assert interpret_poll_result(False) == PollOutcome(False)
    assert interpret_poll_result(None) == PollOutcome(False)
    assert interpret_poll_result({"fire": True, "context": {"n": 1}}) == PollOutcome(True, {"n": 1})
    ctx = SimpleNamespace(to_dict=lambda: {"k": "v"})
    obj = SimpleNamespace(should_fire=True, context=ctx)
    assert interpret_poll_result(obj) == PollOutcome(True, {"k": "v"})
    with pytest.raises(TypeError, match="TriggerResult"):
        interpret_poll_result(42)


@dataclass
class ScriptedPoller:
    """A TriggerPoller double: per-trigger behaviour, records call times."""

    behaviour: dict[str, object] = field(default_factory=dict)
    calls: list[tuple[float, str]] = field(default_factory=list)

    async def poll_trigger(self, trigger: PollTrigger, *, timeout: float) -> object:
        self.calls.append((trio.current_time(), trigger.name))
        b = self.behaviour.get(trigger.name, False)
        if b == "hang":
            await trio.sleep_forever()
        if b == "boom":
            raise RuntimeError("user poll function raised")
        return b


def trig(name: str, interval: float, allow_concurrent: bool = False) -> PollTrigger:
    return PollTrigger(f"pkg:{name}", "pkg", name, f"wf_{name}", interval, allow_concurrent)


async def run_for(sched: PollScheduler, seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


def call_times(poller: ScriptedPoller, name: str) -> list[float]:
    return [round(t, 3) for t, n in poller.calls if n == name]


async def test_each_trigger_polls_at_its_own_interval_on_the_base_tick(
    autojump_clock: trio.testing.MockClock, starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller()
    sched = PollScheduler(poller, starter, base_interval_s=1.0, clock=clock)
    sched.set_package("pkg", [trig("fast", 2), trig("slow", 5)])
    await run_for(sched, 10.5)
    assert call_times(poller, "fast") == [0, 2, 4, 6, 8, 10]
    assert call_times(poller, "slow") == [0, 5, 10]
    assert starter.started == []
    assert sched.stats.skipped == 9


async def test_fire_starts_workflow_with_payload_and_trigger_keys(
    autojump_clock: trio.testing.MockClock, starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller({"inbox": {"fire": True, "context": {"file": "a.csv"}}})
    sched = PollScheduler(poller, starter, clock=clock)
    sched.set_package("pkg", [trig("inbox", 3, allow_concurrent=True)])
    await run_for(sched, 6.5)
    assert len(starter.started) == 3
    _, workflow, ctx = starter.started[1]
    assert workflow == "wf_inbox"
    assert ctx == {
        "file": "a.csv",
        "trigger_name": "inbox",
        "triggered_at": EPOCH.replace(second=3).isoformat(),
    }


async def test_slow_and_failing_triggers_do_not_delay_others(
    autojump_clock: trio.testing.MockClock, starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller({"stuck": "hang", "broken": "boom", "ok": True})
    sched = PollScheduler(poller, starter, poll_timeout_s=3.5, clock=clock)
    sched.set_package(
        "pkg", [trig("stuck", 1), trig("broken", 1), trig("ok", 1, allow_concurrent=True)]
    )
    await run_for(sched, 9.5)
    assert call_times(poller, "ok") == list(range(10))
    # the stuck poll is abandoned after its timeout, then polled again (not in parallel)
    assert call_times(poller, "stuck") == [0, 4, 8]  # timed out at 3.5, re-polled on the tick
    assert sched.stats.timed_out == 2
    assert sched.stats.failed == 10
    assert len(starter.started) == 10


async def test_allow_concurrent_false_holds_until_execution_ends(
    autojump_clock: trio.testing.MockClock, starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller({"t": True})
    sched = PollScheduler(poller, starter, tracker=starter, base_interval_s=1.0, clock=clock)
    sched.set_package("pkg", [trig("t", 1)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(5.5)
        assert call_times(poller, "t") == [0]  # held: not even polled
        assert sched.held() == {"pkg:t": "exec-1"}
        # the execution ends; the tracker notices on the next tick
        starter.active.discard("exec-1")
        await trio.sleep(1)
        assert call_times(poller, "t") == [0, 6]
        assert sched.held() == {"pkg:t": "exec-2"}
        await trio.sleep(1.25)
        assert call_times(poller, "t") == [0, 6]  # still held at the tick of 7 s
        # a completion notification releases at once, between ticks
        starter.active.discard("exec-2")
        sched.execution_finished("exec-2")
        await trio.sleep(0.01)
        assert call_times(poller, "t") == [0, 6, 7.75]
        nursery.cancel_scope.cancel()
    assert sched.stats.fired == 3


async def test_removing_a_package_stops_its_triggers(
    autojump_clock: trio.testing.MockClock, starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller()
    sched = PollScheduler(poller, starter, clock=clock)
    sched.set_package("pkg", [trig("a", 1)])
    sched.set_package("other", [PollTrigger("other:b", "other", "b", "wf", 1)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(2.5)
        sched.remove_package("pkg")
        await trio.sleep(3)
        nursery.cancel_scope.cancel()
    assert call_times(poller, "a") == [0, 1, 2]
    assert call_times(poller, "b") == [0, 1, 2, 3, 4, 5]
    assert [t.trigger_id for t in sched.triggers()] == ["other:b"]


async def test_no_triggers_means_no_tick_and_a_new_trigger_polls_at_once(
    starter: RecordingStarter, clock: TrioWallClock
) -> None:
    poller = ScriptedPoller()
    sched = PollScheduler(poller, starter, base_interval_s=1.0, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.testing.wait_all_tasks_blocked()
        # idle: the scheduler waits with no deadline at all (no wake-ups)
        assert trio.lowlevel.current_statistics().seconds_to_next_deadline == float("inf")
        sched.set_package("pkg", [trig("late", 30)])
        await trio.testing.wait_all_tasks_blocked()
        assert [n for _, n in poller.calls] == ["late"]
        nursery.cancel_scope.cancel()

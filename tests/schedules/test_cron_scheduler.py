"""The CronScheduler trio shell, on a virtual clock with in-memory test doubles."""

from __future__ import annotations

from datetime import timedelta

import trio
import trio.testing

from cloacinactl.engine.schedules import CronConfig, CronSchedule, CronScheduler, parse_cron

from .conftest import EPOCH, MemoryCronStore, RecordingStarter, TrioWallClock


def every(seconds: int, sid: str = "pkg:tick", package: str = "pkg") -> CronSchedule:
    cron = parse_cron(f"*/{seconds} * * * * *")
    return CronSchedule(sid, package, sid.split(":")[-1], "wf", cron)


async def run_for(sched: CronScheduler, seconds: float) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


async def test_fires_each_slot_on_time_with_context(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    sched = CronScheduler(store, starter, clock=clock)
    sched.set_package("pkg", [every(5)])
    await run_for(sched, 30.5)
    times = [t for t, _, _ in starter.started]
    assert times == [EPOCH + timedelta(seconds=s) for s in range(5, 31, 5)]
    _, workflow, ctx = starter.started[0]
    assert workflow == "wf"
    assert ctx == {
        "scheduled_time": (EPOCH + timedelta(seconds=5)).isoformat(),
        "schedule_id": "pkg:tick",
        "schedule_timezone": "UTC",
        "schedule_expression": "*/5 * * * * *",
    }
    assert all(row["execution_id"] for row in store.claims.values())
    assert sched.stats.fired == 6


async def test_sleeps_until_the_slot_instead_of_polling(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
) -> None:
    calls = 0

    class CountingClock(TrioWallClock):
        def now(self):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return super().now()

    hourly = CronSchedule("pkg:h", "pkg", "h", "wf", parse_cron("0 * * * *"))
    quiet = CronConfig(recovery_interval_s=10 * 3600)  # count the timer's reads only
    sched = CronScheduler(store, starter, clock=CountingClock(), config=quiet)
    sched.set_package("pkg", [hourly])
    await run_for(sched, 3 * 3600 + 1)
    assert len(starter.started) == 3
    assert calls < 15  # a handful per fire, not one per tick


async def test_wakes_early_when_a_schedule_is_added(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    sched = CronScheduler(store, starter, clock=clock)
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(100)  # idle, nothing scheduled: sleeping "forever"
        sched.set_package("pkg", [every(2)])
        await trio.sleep(5)
        sched.remove_package("pkg")
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert [t for t, _, _ in starter.started] == [EPOCH + timedelta(seconds=s) for s in (102, 104)]
    assert sched.schedules() == []


async def test_restart_catches_up_bounded_and_never_refires(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    first = CronScheduler(store, starter, clock=clock, config=CronConfig(max_catchup=3))
    first.set_package("pkg", [every(10)])
    await run_for(first, 25)  # fires 10, 20
    await trio.sleep(100)  # "daemon down": slots 30..120 missed
    strict = CronConfig(max_catchup=3, on_time_grace=timedelta(seconds=1))
    second = CronScheduler(store, starter, clock=clock, config=strict)
    second.set_package("pkg", [every(10)])
    await run_for(second, 1)
    slots = sorted(t for (_, t) in store.claims)
    offsets = [int((t - EPOCH).total_seconds()) for t in slots]
    # the newest slot (120) is 5 s late, beyond the 1 s grace: all 10 are catch-ups.
    assert offsets == [10, 20, 100, 110, 120]
    assert second.stats.skipped == 7
    assert len(starter.started) == len(store.claims)


async def test_two_instances_sharing_a_store_fire_each_slot_once(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    a = CronScheduler(store, starter, clock=clock)
    b = CronScheduler(store, starter, clock=clock)
    for s in (a, b):
        s.set_package("pkg", [every(1)])
    async with trio.open_nursery() as nursery:
        await nursery.start(a.serve)
        await nursery.start(b.serve)
        await trio.sleep(20.5)
        nursery.cancel_scope.cancel()
    assert len(starter.started) == 20
    assert a.stats.fired + b.stats.fired == 20
    assert a.stats.duplicate + b.stats.duplicate == 20


async def test_recovery_sweep_refires_a_slot_whose_start_failed(
    autojump_clock: trio.testing.MockClock,
    store: MemoryCronStore,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    config = CronConfig(recovery_interval_s=60, lost_threshold_min=2)
    sched = CronScheduler(store, starter, clock=clock, config=config)
    sched.set_package("pkg", [CronSchedule("pkg:m", "pkg", "m", "wf", parse_cron("0 0 * * *"))])
    starter.fail_next = 1
    sched_at = EPOCH.replace(hour=0) + timedelta(days=1)
    wait_s = (sched_at - EPOCH).total_seconds()
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        await trio.sleep(wait_s + 1)
        assert starter.started == []
        assert store.claims[("pkg:m", sched_at)]["execution_id"] is None
        await trio.sleep(5 * 60)
        nursery.cancel_scope.cancel()
    assert len(starter.started) == 1
    fired_at, _, ctx = starter.started[0]
    assert ctx["scheduled_time"] == sched_at.isoformat()
    assert timedelta(minutes=2) <= fired_at - sched_at <= timedelta(minutes=4)
    assert store.claims[("pkg:m", sched_at)]["execution_id"] == "exec-1"
    assert sched.stats.failed == 1 and sched.stats.recovered == 1


async def test_a_slow_store_for_one_schedule_does_not_delay_another(
    autojump_clock: trio.testing.MockClock,
    starter: RecordingStarter,
    clock: TrioWallClock,
) -> None:
    class SlowForA(MemoryCronStore):
        async def claim_slot(self, schedule_id, scheduled_time):  # type: ignore[no-untyped-def]
            if schedule_id == "a:x":
                await trio.sleep(30)
            return await super().claim_slot(schedule_id, scheduled_time)

    sched = CronScheduler(SlowForA(), starter, clock=clock)
    sched.set_package("a", [every(1, "a:x", "a")])
    sched.set_package("b", [every(1, "b:x", "b")])
    await run_for(sched, 10.5)
    b_times = [t for t, _, c in starter.started if c["schedule_id"] == "b:x"]
    assert b_times == [EPOCH + timedelta(seconds=s) for s in range(1, 11)]

"""Schedule rows per package, and cron slots that fire once across instances."""

from __future__ import annotations

import datetime as dt

import trio

from cloacinactl.store import open_store
from cloacinactl.store.cronslots import CronSlots
from cloacinactl.store.schedules import (
    ScheduleSpec,
    list_schedules,
    remove_schedules_not_owned,
    replace_package_schedules,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _specs(*names: str) -> list[ScheduleSpec]:
    return [ScheduleSpec("cron", "wf", n, cron_expression="* * * * *") for n in names]


def test_package_schedules_are_replaced_and_ids_stable(db_url: str) -> None:
    with open_store(db_url) as store:
        first = store.write(lambda c: replace_package_schedules(c, None, _specs("a", "b"), NOW))
        again = store.write(lambda c: replace_package_schedules(c, None, _specs("b", "c"), NOW))
        assert again["b"] == first["b"]
        names = {r["trigger_name"] for r in store.read(list_schedules)}
        assert names == {"b", "c"}
        gone = store.write(lambda c: remove_schedules_not_owned(c, []))
        assert gone == 0  # schedules without a package are not package-owned


async def test_slot_fires_once_across_claimers_and_cursor_only_moves_forward(
    db_url: str,
) -> None:
    store = open_store(db_url)
    try:
        ids = store.write(lambda c: replace_package_schedules(c, None, _specs("tick"), NOW))
        sid = ids["tick"]
        one, two = CronSlots(store), CronSlots(store)
        assert await one.cron_cursor(sid) is None
        await one.advance_cron_cursor(sid, NOW)
        await one.advance_cron_cursor(sid, NOW - dt.timedelta(hours=1))  # never backwards
        assert await two.cron_cursor(sid) == NOW
        slot = NOW + dt.timedelta(minutes=1)
        won: list[bool] = []

        async def claim(cs: CronSlots) -> None:
            won.append(await cs.claim_slot(sid, slot))

        async with trio.open_nursery() as nursery:
            for cs in (one, two, one, two):
                nursery.start_soon(claim, cs)
        assert sorted(won) == [False, False, False, True]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        lost = await one.lost_slots(later)
        assert [(x.schedule_id, x.scheduled_time, x.attempts) for x in lost] == [(sid, slot, 1)]
        assert await two.reclaim_slot(lost[0], NOW) is True
        assert await one.reclaim_slot(lost[0], NOW) is False  # attempts moved on
        await one.attach_execution(sid, slot, "exec-1")
        assert await one.lost_slots(later) == []
    finally:
        store.close()

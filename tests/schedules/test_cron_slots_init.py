"""CronSlots.init_cursors (the batch the cron scheduler uses) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from cloacinactl.store import open_store
from cloacinactl.store.cronslots import CronSlots
from cloacinactl.store.schedules import ScheduleSpec, replace_package_schedules

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


async def test_new_schedules_start_now_and_known_cursors_are_kept(db_url: str) -> None:
    store = open_store(db_url)
    try:
        specs = [
            ScheduleSpec("cron", "wf", f"t{i}", cron_expression="* * * * *") for i in range(1200)
        ]
        ids = store.write(lambda c: replace_package_schedules(c, None, specs, NOW))
        slots = CronSlots(store)
        old = NOW - dt.timedelta(hours=3)
        await slots.advance_cron_cursor(ids["t7"], old)
        got = await slots.init_cursors(list(ids.values()), NOW)
        assert len(got) == 1200
        assert got[ids["t7"]] == old  # a known cursor is never reset
        assert got[ids["t0"]] == NOW and got[ids["t1199"]] == NOW
        later = await slots.init_cursors([ids["t0"]], NOW + dt.timedelta(hours=1))
        assert later == {ids["t0"]: NOW}
        assert await slots.init_cursors(["no-such-schedule"], NOW) == {}
    finally:
        store.close()

"""The cron slot table as the schedulers' ``CronStore``.

One row per (schedule, scheduled time), inserted with ON CONFLICT DO NOTHING: a
slot fires once across restarts and across every instance sharing the database.
Implements :class:`cloacinactl.engine.schedules.interfaces.CronStore`; schedule
rows must exist first (:func:`cloacinactl.store.schedules.replace_package_schedules`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import TypeVar

import trio
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloacinactl.engine.schedules.interfaces import ClaimedSlot
from cloacinactl.store import Store
from cloacinactl.store import schema as s

T = TypeVar("T")
S = s.schedules.c
F = s.cron_fires.c


class CronSlots:
    """The async ``CronStore`` over one tenant's store (blocking work on threads)."""

    def __init__(self, store: Store, *, claimant_id: str = "") -> None:
        self.store = store
        self.claimant_id = claimant_id or str(uuid.uuid4())

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        return await trio.to_thread.run_sync(self.store.write, fn)

    async def cron_cursor(self, schedule_id: str) -> dt.datetime | None:
        def work(conn: Connection) -> dt.datetime | None:
            value = conn.execute(select(S.cron_cursor).where(S.id == schedule_id)).scalar()
            return value if isinstance(value, dt.datetime) else None

        return await trio.to_thread.run_sync(self.store.read, work)

    async def advance_cron_cursor(self, schedule_id: str, slot: dt.datetime) -> None:
        await self._write(
            lambda c: c.execute(
                update(s.schedules)
                .where(
                    and_(
                        S.id == schedule_id,
                        or_(S.cron_cursor.is_(None), S.cron_cursor < slot),
                    )
                )
                .values(cron_cursor=slot)
            )
        )

    async def init_cursors(
        self, schedule_ids: list[str], now: dt.datetime
    ) -> dict[str, dt.datetime]:
        def work(conn: Connection) -> dict[str, dt.datetime]:
            out: dict[str, dt.datetime] = {}
            for start in range(0, len(schedule_ids), 500):
                chunk = schedule_ids[start : start + 500]
                conn.execute(
                    update(s.schedules)
                    .where(and_(S.id.in_(chunk), S.cron_cursor.is_(None)))
                    .values(cron_cursor=now)
                )
                rows = conn.execute(select(S.id, S.cron_cursor).where(S.id.in_(chunk)))
                out.update({r.id: r.cron_cursor for r in rows if r.cron_cursor is not None})
            return out

        return await self._write(work)

    async def claim_slot(self, schedule_id: str, scheduled_time: dt.datetime) -> bool:
        now = dt.datetime.now(dt.UTC)
        insert = pg_insert if self.store.backend == "postgresql" else sqlite_insert

        def work(conn: Connection) -> bool:
            stmt = (
                insert(s.cron_fires)
                .values(
                    id=str(uuid.uuid4()),
                    schedule_id=schedule_id,
                    scheduled_time=scheduled_time,
                    claimant_id=self.claimant_id,
                    claimed_at=now,
                    attempts=1,
                )
                .on_conflict_do_nothing(index_elements=["schedule_id", "scheduled_time"])
                .returning(F.id)  # rowcount is not reliable here on psycopg
            )
            return conn.execute(stmt).first() is not None

        return await self._write(work)

    async def attach_execution(
        self, schedule_id: str, scheduled_time: dt.datetime, execution_id: str
    ) -> None:
        now = dt.datetime.now(dt.UTC)

        def work(conn: Connection) -> None:
            conn.execute(
                update(s.cron_fires)
                .where(and_(F.schedule_id == schedule_id, F.scheduled_time == scheduled_time))
                .values(execution_id=execution_id, started_at=now)
            )
            conn.execute(update(s.schedules).where(S.id == schedule_id).values(last_run_at=now))

        await self._write(work)

    async def lost_slots(self, claimed_before: dt.datetime) -> list[ClaimedSlot]:
        def work(conn: Connection) -> list[ClaimedSlot]:
            rows = conn.execute(
                select(F.schedule_id, F.scheduled_time, F.claimed_at, F.attempts)
                .where(and_(F.execution_id.is_(None), F.claimed_at < claimed_before))
                .order_by(F.scheduled_time)
            )
            return [
                ClaimedSlot(r.schedule_id, r.scheduled_time, r.claimed_at, r.attempts) for r in rows
            ]

        return await trio.to_thread.run_sync(self.store.read, work)

    async def reclaim_slot(self, slot: ClaimedSlot, now: dt.datetime) -> bool:
        def work(conn: Connection) -> bool:
            result = conn.execute(
                update(s.cron_fires)
                .where(
                    and_(
                        F.schedule_id == slot.schedule_id,
                        F.scheduled_time == slot.scheduled_time,
                        F.execution_id.is_(None),
                        F.attempts == slot.attempts,
                    )
                )
                .values(attempts=F.attempts + 1, claimed_at=now, claimant_id=self.claimant_id)
                .returning(F.id)
            )
            return result.first() is not None

        return await self._write(work)

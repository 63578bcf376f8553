"""The cron slot table as the schedulers' ``CronStore``.

One row per (schedule, scheduled time), inserted with ON CONFLICT DO NOTHING: a
slot fires once across restarts and across every instance sharing the database.
Implements :class:`cloacinactl.engine.schedules.interfaces.CronStore`; schedule
rows must exist first (:func:`cloacinactl.store.schedules.replace_package_schedules`).

The per-slot writes (claim, attach, advance, reclaim) go through a
:class:`WriteBatcher`: many schedules due at the same instant (every workflow on
``0 * * * *``) cost one transaction per round, not one each queued on the
SQLite writer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import trio
from loguru import logger
from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cloacinactl.store import Store
from cloacinactl.store import schema as s

T = TypeVar("T")
S = s.schedules.c
F = s.cron_fires.c


async def after_this_round() -> None:
    """Return once every task the caller just woke (a finished batch wakes all its
    callers at once) has run up to its next checkpoint, so it queued behind the leader.

    Kept on purpose, in this one place (docs/architecture.md): callers woken together
    (by the previous batch) run in trio's next scheduling batch, in random order, so
    two shielded checkpoints come after all of them. An explicit "batch closed"
    event was tried instead: the only signal that no more callers of a round are
    coming is the scheduler's, so the first caller of a round would run alone and the
    rest one batch later. Measured on 40 schedules due together (SQLite, 5 rounds of
    claim + attach + advance): 6 transactions a round instead of 3 (the wall time on a
    local SQLite file is within noise, 150-210 ms a round either way; the doubled
    commits are what a shared PostgreSQL pays for), and a bad item is no longer
    retried alone within the batch it arrived with. ``tests/schedules/test_cron_round.py``
    fails if trio stops running same-round tasks within two checkpoints.
    """
    await trio.lowlevel.cancel_shielded_checkpoint()
    await trio.lowlevel.cancel_shielded_checkpoint()


@dataclass(frozen=True)
class ClaimedSlot:
    """A cron slot row that was claimed but has no execution attached yet."""

    schedule_id: str
    scheduled_time: dt.datetime
    claimed_at: dt.datetime
    attempts: int


@dataclass(eq=False)
class _Item:
    """One caller's write: its closure, where it sorts in a batch, and its outcome."""

    work: Callable[[Connection], object]
    key: tuple[str, ...]
    woken: trio.Event = field(default_factory=trio.Event)
    lead: bool = False  # this caller runs the next batch
    done: bool = False
    value: object = None
    error: Exception | None = None

    def settle(self, value: object = None, error: Exception | None = None) -> None:
        self.value, self.error, self.done = value, error, True


class WriteBatcher:
    """Runs the writes that arrive together in one ``store.write`` transaction.

    No background task: the first caller leads. It yields, so the callers of
    the same trio scheduling round can queue behind it, then runs everything
    queued in one transaction on a thread and hands each caller its own result.
    Callers arriving while a batch is in flight form the next batch, led by the
    oldest of them. When a batch's transaction fails, its items are retried one
    transaction each, so only the caller of a bad item sees an error.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[_Item] = []
        self._leading = False  # some caller owns the next (or current) batch

    async def run(self, work: Callable[[Connection], T], key: tuple[str, ...] = ()) -> T:
        """``work(conn)`` inside a shared write transaction; ``key`` orders the
        batch (rows in a fixed order, fewer deadlocks between instances)."""
        item = _Item(work, key)
        self._queue.append(item)
        if self._leading:
            try:
                await item.woken.wait()
            except trio.Cancelled:
                self._abandon(item)
                raise
        else:
            self._leading = item.lead = True
            await after_this_round()
        if not item.done:
            assert item.lead
            await self._flush()
        if item.error is not None:
            raise item.error
        return cast(T, item.value)

    def _abandon(self, item: _Item) -> None:
        # A cancelled caller leaves the queue (if its batch has not started yet)
        # and passes the lead on if it had just been given it.
        if item in self._queue:
            self._queue.remove(item)
        if item.lead and not item.done:
            self._hand_off()

    def _hand_off(self) -> None:
        if self._queue:
            self._queue[0].lead = True
            self._queue[0].woken.set()
        else:
            self._leading = False

    async def _flush(self) -> None:
        batch, self._queue = self._queue, []
        try:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._run_batch, batch)
        finally:
            for item in batch:
                if not item.done:  # only if the thread itself blew up
                    item.settle(error=RuntimeError("cron store batch aborted"))
                item.woken.set()
            self._hand_off()

    def _run_batch(self, batch: list[_Item]) -> None:
        items = sorted(batch, key=lambda item: item.key)
        if len(items) > 1:
            try:
                values = self.store.write(lambda conn: [item.work(conn) for item in items])
            except Exception as exc:
                logger.warning(
                    "cron store batch failed, retrying one by one items={} error={}",
                    len(items),
                    exc,
                )
            else:
                for item, value in zip(items, values, strict=True):
                    item.settle(value)
                return
        for item in items:
            try:
                item.settle(self.store.write(item.work))
            except Exception as exc:
                item.settle(error=exc)


class CronSlots:
    """The async ``CronStore`` over one tenant's store (blocking work on threads)."""

    def __init__(self, store: Store, *, claimant_id: str = "") -> None:
        self.store = store
        self.claimant_id = claimant_id or str(uuid.uuid4())
        self.batcher = WriteBatcher(store)

    async def _write(self, fn: Callable[[Connection], T]) -> T:
        return await trio.to_thread.run_sync(self.store.write, fn)

    async def _batched(self, fn: Callable[[Connection], T], *key: str) -> T:
        return await self.batcher.run(fn, key)

    async def cron_cursor(self, schedule_id: str) -> dt.datetime | None:
        def work(conn: Connection) -> dt.datetime | None:
            value = conn.execute(select(S.cron_cursor).where(S.id == schedule_id)).scalar()
            return value if isinstance(value, dt.datetime) else None

        return await trio.to_thread.run_sync(self.store.read, work)

    async def advance_cron_cursor(self, schedule_id: str, slot: dt.datetime) -> None:
        def work(conn: Connection) -> None:
            conn.execute(
                update(s.schedules)
                .where(
                    and_(
                        S.id == schedule_id,
                        or_(S.cron_cursor.is_(None), S.cron_cursor < slot),
                    )
                )
                .values(cron_cursor=slot)
            )

        await self._batched(work, schedule_id)

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

        return await self._batched(work, schedule_id, scheduled_time.isoformat())

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

        await self._batched(work, schedule_id, scheduled_time.isoformat())

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

        return await self._batched(work, slot.schedule_id, slot.scheduled_time.isoformat())

"""The trio shell around the cron maths: sleep until the next slot, claim, fire.

No busy polling: the scheduler computes the earliest next slot over all
schedules and sleeps until then, waking early when the schedule set changes.
Each due schedule is processed in its own task, so a slow store call or runner
for one schedule never delays another. Every slot goes through
``CronStore.claim_slot`` (a unique row), so it fires once across restarts and
across instances sharing a database. A recovery sweep re-fires claimed slots
whose execution never started.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import trio
from loguru import logger

from cloacinactl.engine.schedules.interfaces import (
    Clock,
    CronStore,
    ExecutionStarter,
    SystemClock,
)
from cloacinactl.store.cronslots import ClaimedSlot
from cloacinactl.workflow.cron import (
    DEFAULT_ON_TIME_GRACE,
    CronExpr,
    cron_context,
    next_after,
    plan_due,
)

# Timer wake-ups can land a hair before the slot (float seconds vs microsecond
# datetimes); a slot this close counts as due rather than costing another sleep.
_EARLY = timedelta(milliseconds=2)


@dataclass(frozen=True)
class CronSchedule:
    """One cron trigger of a loaded package."""

    schedule_id: str  # stable across restarts (the store's key)
    package: str  # owner: the schedule disappears with its package
    name: str  # trigger name
    workflow: str
    cron: CronExpr


@dataclass(frozen=True)
class CronConfig:
    """The ``[daemon]`` cron knobs."""

    max_catchup: int | None = None  # None: unlimited
    recovery_interval_s: float = 300.0
    lost_threshold_min: float = 10.0
    max_recovery_attempts: int = 3
    on_time_grace: timedelta = DEFAULT_ON_TIME_GRACE


@dataclass
class CronStats:
    """Figures for the health socket."""

    fired: int = 0
    skipped: int = 0
    duplicate: int = 0  # slots another instance (or an earlier run) already claimed
    failed: int = 0
    recovered: int = 0


@dataclass
class _Entry:
    schedule: CronSchedule
    cursor: datetime | None = None
    next_slot: datetime | None = None
    busy: bool = False


@dataclass
class CronScheduler:
    """Fires cron schedules through a CronStore and an ExecutionStarter."""

    store: CronStore
    starter: ExecutionStarter
    config: CronConfig = field(default_factory=CronConfig)
    clock: Clock = field(default_factory=SystemClock)
    stats: CronStats = field(default_factory=CronStats)
    _entries: dict[str, _Entry] = field(default_factory=dict, init=False)
    _changed: trio.Event = field(default_factory=trio.Event, init=False)

    # -- the schedule set (called by the reconciler) -------------------------------

    def set_package(self, package: str, schedules: Iterable[CronSchedule]) -> None:
        """Replace every cron schedule owned by ``package``."""
        keep = {s.schedule_id: s for s in schedules if s.package == package}
        for sid in [sid for sid, e in self._entries.items() if e.schedule.package == package]:
            if sid not in keep:
                del self._entries[sid]
        for sid, sched in keep.items():
            old = self._entries.get(sid)
            if old is None or old.schedule != sched:
                self._entries[sid] = _Entry(sched)
        self._changed.set()

    def remove_package(self, package: str) -> None:
        """Drop every cron schedule owned by ``package``."""
        self.set_package(package, ())

    def schedules(self) -> list[CronSchedule]:
        return [e.schedule for e in self._entries.values()]

    def next_fire_at(self) -> datetime | None:
        """The earliest known next slot over all schedules (for status)."""
        slots = [e.next_slot for e in self._entries.values() if e.next_slot is not None]
        return min(slots) if slots else None

    # -- running --------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the timer loop and the recovery sweep until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._recovery_loop)
            task_status.started()
            await self._timer_loop(nursery)

    async def _timer_loop(self, nursery: trio.Nursery) -> None:
        while True:
            self._changed = trio.Event()
            await self._initialise_new()
            now = self.clock.now()
            wake_at: datetime | None = None
            for entry in list(self._entries.values()):
                if entry.busy or entry.next_slot is None:
                    continue
                if entry.next_slot <= now + _EARLY:
                    entry.busy = True
                    nursery.start_soon(self._process, entry, max(now, entry.next_slot))
                elif wake_at is None or entry.next_slot < wake_at:
                    wake_at = entry.next_slot
            delay = math.inf if wake_at is None else (wake_at - now).total_seconds()
            with trio.move_on_after(max(0.0, delay)):
                await self._changed.wait()

    async def _initialise_new(self) -> None:
        # One batch for every new schedule: a package with many schedules (or a
        # daemon starting with a thousand) costs one round trip, not two each.
        fresh = [e for e in self._entries.values() if e.cursor is None and not e.busy]
        if not fresh:
            return
        for entry in fresh:
            entry.busy = True
        try:
            cursors = await self.store.init_cursors(
                [e.schedule.schedule_id for e in fresh], self.clock.now()
            )
        except Exception:
            logger.exception("cron cursor load failed schedules={}", len(fresh))
            cursors = {}
        for entry in fresh:
            entry.busy = False
            cursor = cursors.get(entry.schedule.schedule_id)
            if cursor is None:
                continue  # retried on the next wake-up
            entry.cursor = cursor
            entry.next_slot = next_after(entry.schedule.cron, cursor)

    async def _process(self, entry: _Entry, now: datetime) -> None:
        sched = entry.schedule
        assert entry.cursor is not None
        try:
            plan = plan_due(
                sched.cron,
                entry.cursor,
                now,
                self.config.max_catchup,
                on_time_grace=self.config.on_time_grace,
            )
            if plan.skipped:
                self.stats.skipped += plan.skipped
                logger.warning(
                    "cron catch-up bounded schedule_id={} skipped={} max_catchup={}",
                    sched.schedule_id,
                    plan.skipped,
                    self.config.max_catchup,
                )
            for slot in plan.fire:
                await self._fire(sched, slot)
            await self.store.advance_cron_cursor(sched.schedule_id, plan.cursor)
            entry.cursor = plan.cursor
            entry.next_slot = plan.next_slot
        except Exception:
            logger.exception("cron processing failed schedule_id={}", sched.schedule_id)
            # Retry at the next slot after now; the claimed rows keep what was done.
            entry.next_slot = next_after(sched.cron, self.clock.now())
        finally:
            entry.busy = False
            self._changed.set()

    async def _fire(self, sched: CronSchedule, slot: datetime) -> None:
        if not await self.store.claim_slot(sched.schedule_id, slot):
            self.stats.duplicate += 1
            return
        await self._start(sched, slot)

    async def _start(self, sched: CronSchedule, slot: datetime) -> bool:
        context = cron_context(scheduled_time=slot, schedule_id=sched.schedule_id, cron=sched.cron)
        try:
            execution_id = await self.starter.start_execution(
                sched.workflow, context, package=sched.package
            )
            await self.store.attach_execution(sched.schedule_id, slot, execution_id)
        except Exception:
            # The claimed row without an execution is what the recovery sweep looks for.
            self.stats.failed += 1
            logger.exception(
                "cron start failed schedule_id={} scheduled_time={}",
                sched.schedule_id,
                slot.isoformat(),
            )
            return False
        self.stats.fired += 1
        logger.info(
            "cron fired schedule_id={} workflow={} scheduled_time={} execution_id={}",
            sched.schedule_id,
            sched.workflow,
            slot.isoformat(),
            execution_id,
        )
        return True

    async def _recovery_loop(self) -> None:
        while True:
            await trio.sleep(self.config.recovery_interval_s)
            try:
                await self.recover_lost()
            except Exception:
                logger.exception("cron recovery sweep failed")

    async def recover_lost(self) -> int:
        """One recovery sweep: re-fire claimed slots whose execution never started."""
        now = self.clock.now()
        threshold = now - timedelta(minutes=self.config.lost_threshold_min)
        recovered = 0
        for slot in await self.store.lost_slots(threshold):
            entry = self._entries.get(slot.schedule_id)
            if entry is None or slot.attempts >= self.config.max_recovery_attempts:
                continue  # package gone, or given up: left for an operator to see
            if await self._recover(entry.schedule, slot, now):
                recovered += 1
        return recovered

    async def _recover(self, sched: CronSchedule, slot: ClaimedSlot, now: datetime) -> bool:
        if not await self.store.reclaim_slot(slot, now):
            return False
        logger.warning(
            "cron slot lost, re-firing schedule_id={} scheduled_time={} attempt={}",
            slot.schedule_id,
            slot.scheduled_time.isoformat(),
            slot.attempts + 1,
        )
        if await self._start(sched, slot.scheduled_time):
            self.stats.recovered += 1
            return True
        return False

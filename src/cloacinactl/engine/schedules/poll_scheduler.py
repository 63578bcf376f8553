"""The trio shell for poll triggers: a base tick, per-trigger intervals, one task per poll.

Every ``base_interval_s`` (``trigger_poll_interval_ms``) the scheduler looks for
triggers whose own ``poll_interval`` has elapsed and polls each in its own task
with its own timeout, so a slow or failing trigger never delays another (nor
the cron scheduler, which runs in a different task). A trigger with a poll in
flight is not polled again until that poll ends. With ``allow_concurrent=False``
a fired trigger is *held* while its execution is active: it is not polled (a
poll may consume input) until the execution ends, noticed through
``execution_finished`` at once or through ``ExecutionTracker.is_active`` on the
next tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import trio
from loguru import logger

from cloacinactl.engine.schedules.interfaces import (
    Clock,
    ExecutionStarter,
    ExecutionTracker,
    SystemClock,
)
from cloacinactl.engine.schedules.poll import PollTrigger, fire_context, interpret_poll_result


class TriggerPoller(Protocol):
    """The worker pool: run the trigger's poll function in a worker, bounded by ``timeout``.

    Returns whatever the poll answered (see ``interpret_poll_result``); raises on
    error or timeout.
    """

    async def poll_trigger(self, trigger: PollTrigger, *, timeout: float) -> object: ...


@dataclass
class PollStats:
    """Figures for the health socket."""

    polls: int = 0
    fired: int = 0
    skipped: int = 0
    held: int = 0  # ticks on which a trigger was held by its active execution
    failed: int = 0
    timed_out: int = 0


@dataclass
class _State:
    trigger: PollTrigger
    next_poll_at: float = -float("inf")  # trio clock
    in_flight: bool = False
    held_by: str | None = None


@dataclass
class PollScheduler:
    """Polls custom triggers and starts their workflows when they fire."""

    poller: TriggerPoller
    starter: ExecutionStarter
    tracker: ExecutionTracker | None = None
    base_interval_s: float = 1.0
    poll_timeout_s: float = 30.0
    clock: Clock = field(default_factory=SystemClock)
    stats: PollStats = field(default_factory=PollStats)
    _states: dict[str, _State] = field(default_factory=dict, init=False)
    _wake: trio.Event = field(default_factory=trio.Event, init=False)

    # -- the trigger set (called by the reconciler) ------------------------------

    def set_package(self, package: str, triggers: Iterable[PollTrigger]) -> None:
        """Replace every poll trigger owned by ``package``."""
        keep = {t.trigger_id: t for t in triggers if t.package == package}
        for tid in [t for t, s in self._states.items() if s.trigger.package == package]:
            if tid not in keep:
                del self._states[tid]
        for tid, trig in keep.items():
            old = self._states.get(tid)
            if old is None:
                self._states[tid] = _State(trig)
            elif old.trigger != trig:
                # Keep the hold: the execution it guards is still running.
                self._states[tid] = _State(trig, old.next_poll_at, False, old.held_by)
        self._wake.set()

    def remove_package(self, package: str) -> None:
        """Drop every poll trigger owned by ``package``."""
        self.set_package(package, ())

    def triggers(self) -> list[PollTrigger]:
        return [s.trigger for s in self._states.values()]

    def held(self) -> dict[str, str]:
        """trigger_id -> execution id holding it (allow_concurrent=False)."""
        return {tid: s.held_by for tid, s in self._states.items() if s.held_by is not None}

    def execution_finished(self, execution_id: str) -> None:
        """Completion notification: release any trigger held by ``execution_id`` now."""
        for state in self._states.values():
            if state.held_by == execution_id:
                state.held_by = None
                self._wake.set()

    # -- running --------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Tick until cancelled; each due trigger is polled in its own task."""
        async with trio.open_nursery() as nursery:
            task_status.started()
            next_tick = trio.current_time()
            while True:
                self._wake = trio.Event()
                now = trio.current_time()
                for state in list(self._states.values()):
                    if not state.in_flight and now >= state.next_poll_at:
                        state.in_flight = True
                        nursery.start_soon(self._run_one, state)
                if not self._states:
                    # Nothing to poll: sleep until a package brings triggers (no tick).
                    await self._wake.wait()
                    next_tick = trio.current_time()
                    continue
                while next_tick <= now:
                    next_tick += self.base_interval_s
                with trio.move_on_at(next_tick):
                    await self._wake.wait()

    async def _run_one(self, state: _State) -> None:
        try:
            await self._poll(state)
        finally:
            state.in_flight = False

    async def _still_held(self, state: _State) -> bool:
        if state.held_by is None:
            return False
        if self.tracker is None:
            return True
        try:
            with trio.fail_after(self.poll_timeout_s):
                active = await self.tracker.is_active(state.held_by)
        except Exception:
            logger.exception("execution status check failed trigger={}", state.trigger.trigger_id)
            return True
        if not active:
            state.held_by = None
        return active

    async def _poll(self, state: _State) -> None:
        trig = state.trigger
        if await self._still_held(state):
            self.stats.held += 1
            return
        state.next_poll_at = trio.current_time() + trig.poll_interval_s
        self.stats.polls += 1
        try:
            with trio.fail_after(self.poll_timeout_s):
                raw = await self.poller.poll_trigger(trig, timeout=self.poll_timeout_s)
            outcome = interpret_poll_result(raw)
        except trio.TooSlowError:
            self.stats.timed_out += 1
            logger.warning(
                "poll trigger timed out trigger={} timeout_s={}",
                trig.trigger_id,
                self.poll_timeout_s,
            )
            return
        except Exception as exc:
            self.stats.failed += 1
            logger.warning("poll trigger failed trigger={} error={!r}", trig.trigger_id, exc)
            return
        if not outcome.fire:
            self.stats.skipped += 1
            return
        context = fire_context(outcome.context, trig, self.clock.now())
        try:
            execution_id = await self.starter.start_execution(
                trig.workflow, context, package=trig.package
            )
        except Exception:
            self.stats.failed += 1
            logger.exception("poll trigger start failed trigger={}", trig.trigger_id)
            return
        self.stats.fired += 1
        if not trig.allow_concurrent and self._states.get(trig.trigger_id) is state:
            state.held_by = execution_id
        logger.info(
            "poll trigger fired trigger={} workflow={} execution_id={}",
            trig.trigger_id,
            trig.workflow,
            execution_id,
        )

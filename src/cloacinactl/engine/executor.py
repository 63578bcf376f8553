"""The executor: a trio shell around :mod:`cloacinactl.engine.ops`.

One *writer* task owns the engine's database work. It collects what arrived
since its last transaction (new executions, finished attempts) and runs a
single :func:`ops.cycle` on a thread: create + record + advance + claim, one
commit. Claimed tasks are handed to the task runner (the worker pool); their
outcomes come back to the writer. A second task heartbeats and recovers tasks
whose claimant died.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from loguru import logger

from cloacinactl.engine import ops, recovery
from cloacinactl.engine.advance import CycleResult
from cloacinactl.engine.dispatch import Dispatch
from cloacinactl.engine.secretsource import SecretSource
from cloacinactl.engine.taskrun import TaskOutcome, TaskRunner
from cloacinactl.errors import CloacinaError
from cloacinactl.store import Store, claimants
from cloacinactl.store.claims import Claimed
from cloacinactl.store.executions import ExecutionResult
from cloacinactl.store.fastsql import sql_for
from cloacinactl.store.registry import DefCache
from cloacinactl.workflow import backoff


@dataclass(frozen=True)
class ExecutorConfig:
    concurrency: int = 8
    batch_size: int = 256
    poll_interval_s: float = 0.1  # first look for out-of-band work after going idle
    idle_poll_s: float = 5.0  # the look-again interval grows to this while nothing happens
    heartbeat_interval_s: float = 5.0  # while this engine holds claims; x2 while idle
    stale_after_s: float = 30.0
    max_resets: int = 3
    claimant_id: str = ""
    checkpoint_interval_s: float = 1.0


ISOLATE_AFTER = 3  # consecutive failed cycles before items are applied one by one
Listener = Callable[[Mapping[str, ExecutionResult | None]], None]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Executor:
    """Runs ready tasks from ``store`` through ``runner`` until cancelled or drained."""

    def __init__(
        self,
        store: Store,
        runner: TaskRunner,
        config: ExecutorConfig,
        *,
        defs: DefCache | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        secrets: SecretSource | None = None,
    ) -> None:
        self.store = store
        self.runner = runner
        self.secrets = secrets
        self.config = config
        self.claimant_id = config.claimant_id or str(uuid.uuid4())
        self.defs = defs or DefCache()
        self.clock = clock
        self.settings = ops.Settings(max_resets=config.max_resets)
        self.sql = sql_for(store.backend, store.schema_name)
        self.me = claimants.Identity.current(self.claimant_id)
        self._rng = random.Random()
        self._creates: list[tuple[ops.NewExecution, trio.Event]] = []
        self._outcomes: list[ops.Outcome] = []
        self._inflight: dict[int, Claimed] = {}
        self._wake = trio.Event()
        self._claiming = True
        self._finished_listeners: list[Listener] = []
        self.stats = {"cycles": 0, "claimed": 0, "applied": 0}
        self._failures = 0
        self._create_errors: dict[str, Exception] = {}
        self.latencies_ms: list[float] | None = None
        self._next_due: dt.datetime | None = None  # the earliest future retry_at seen
        self._dirty = trio.Event()  # set when the writer committed work (SQLite checkpoints)
        self.dispatch = Dispatch(store, runner, secrets, self._finish)

    # -- public API ------------------------------------------------------------------
    def on_finished(self, listener: Listener) -> None:
        """Call ``listener({execution_id: result})`` after executions finish here."""
        self._finished_listeners.append(listener)

    async def create(self, item: ops.NewExecution) -> None:
        """Create an execution in the writer's next transaction; returns once committed."""
        done = trio.Event()
        self._creates.append((item, done))
        self._kick()
        await done.wait()
        error = self._create_errors.pop(item.id, None)
        if error is not None:
            raise CloacinaError(f"could not create the execution: {error}") from error

    def kick(self) -> None:
        """Look for claimable work now (e.g. after an out-of-band change)."""
        self._kick()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Register, recover, then run the writer and heartbeat loops until cancelled."""
        now = self.clock()
        await self._db(lambda c: claimants.register_claimant(c, self.me, now))
        await self._recover()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeat_loop)
                if self.store.backend == "sqlite":
                    nursery.start_soon(self._checkpoint_loop)
                await nursery.start(self._writer, nursery)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await self._release()

    async def drain(self, deadline_s: float) -> bool:
        """Stop claiming and wait up to ``deadline_s`` for in-flight tasks; True if all done."""
        self._claiming = False
        self._kick()
        with trio.move_on_after(deadline_s):
            while self._inflight or self._outcomes or self._creates:
                await trio.sleep(0.01)
            return True
        return False

    # -- internals -------------------------------------------------------------------
    def _kick(self) -> None:
        self._wake.set()

    async def _db(self, fn: Callable[[Any], Any]) -> Any:
        return await trio.to_thread.run_sync(self.store.write, fn)

    async def _writer(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        more = True
        idle_wait = self.config.poll_interval_s
        while True:
            room = self.config.concurrency - len(self._inflight) if self._claiming else 0
            limit = min(room, self.config.batch_size)
            if not self._creates and not self._outcomes and not (more and limit > 0):
                idle_wait = await self._sleep(limit, idle_wait)
                more = True
                continue
            creates, self._creates = self._creates, []
            outcomes, self._outcomes = self._outcomes, []
            result = await self._cycle(creates, outcomes, limit)
            if result is not None:
                more = self._took(nursery, creates, result, limit)

    async def _sleep(self, limit: int, idle_wait: float) -> float:
        """Sleep until signalled (a new execution, an outcome, a kick), the next retry
        falls due, or the safety tick for work other processes created; returns the
        next tick, which backs off while nothing turns up."""
        wait = math.inf
        if limit > 0:
            wait = idle_wait
            if self._next_due is not None:
                due = (self._next_due - self.clock()).total_seconds()
                wait = min(wait, max(0.0, due))
        self._wake = trio.Event()
        with trio.move_on_after(wait) as scope:
            await self._wake.wait()
        if scope.cancelled_caught:
            return min(self.config.idle_poll_s, idle_wait * 2)
        return self.config.poll_interval_s

    async def _cycle(
        self,
        creates: list[tuple[ops.NewExecution, trio.Event]],
        outcomes: list[ops.Outcome],
        limit: int,
    ) -> CycleResult | None:
        """One :func:`ops.cycle` transaction; None (the work kept or isolated) if it failed."""
        try:
            # shielded: once committed, claims must be recorded in memory (or released)
            with trio.CancelScope(shield=True):
                result: CycleResult = await self._db(
                    partial(
                        ops.cycle,
                        sql=self.sql,
                        claimant_id=self.claimant_id,
                        defs=self.defs,
                        now=self.clock(),
                        create=[c for c, _ in creates],
                        outcomes=outcomes,
                        claim_limit=limit,
                        settings=self.settings,
                        rng=self._rng,
                    )
                )
        except Exception:
            # keep the work: a transient database outage must not lose outcomes
            self._failures += 1
            logger.exception("engine cycle failed failures={}; retrying", self._failures)
            if self._failures >= ISOLATE_AFTER and len(creates) + len(outcomes) > 1:
                # one poisoned item must not stall everything: go one by one
                await self._isolate(creates, outcomes)
            else:
                self._creates = creates + self._creates
                self._outcomes = outcomes + self._outcomes
                await trio.sleep(backoff.exponential(0.1, 2.0, self._failures, 5.0))
            return None
        self._failures = 0
        return result

    def _took(
        self,
        nursery: trio.Nursery,
        creates: list[tuple[ops.NewExecution, trio.Event]],
        result: CycleResult,
        limit: int,
    ) -> bool:
        """Act on a committed cycle: wake creators, run the claimed tasks, tell the
        listeners what finished; whether more claimable work may be waiting."""
        for _, done in creates:
            done.set()
        claimed = result.claimed
        self.stats["cycles"] += 1
        self.stats["claimed"] += len(claimed)
        self.stats["applied"] += result.applied
        self._next_due = result.next_due
        if claimed or result.applied:
            self._dirty.set()
        if claimed:
            latencies = self.latencies_ms
            if latencies is not None:
                started = self.clock()
                for c in claimed:
                    if c.ready_at is not None:
                        latencies.append((started - c.ready_at).total_seconds() * 1000)
            inflight = self._inflight
            for c in claimed:
                inflight[c.task_pk] = c
            self.dispatch.start(nursery, claimed)
        if result.finished:
            for listener in self._finished_listeners:
                listener(result.finished)
        return len(claimed) >= limit > 0 or result.made_ready > 0

    async def _isolate(
        self, creates: list[tuple[ops.NewExecution, trio.Event]], outcomes: list[ops.Outcome]
    ) -> None:
        """Apply each item in its own transaction; report what still fails."""

        async def one(**kw: Any) -> CycleResult:
            work = partial(
                ops.cycle,
                sql=self.sql,
                claimant_id=self.claimant_id,
                defs=self.defs,
                now=self.clock(),
                settings=self.settings,
                rng=self._rng,
                **kw,
            )
            with trio.CancelScope(shield=True):
                result: CycleResult = await self._db(work)
            return result

        for item, done in creates:
            try:
                await one(create=[item])
            except Exception as exc:
                logger.exception("cannot create execution execution_id={}", item.id)
                self._create_errors[item.id] = exc
            done.set()
        for outcome in outcomes:
            try:
                result = await one(outcomes=[outcome])
            except Exception:
                # left Running under this claimant: recovery resets it after a restart
                logger.exception(
                    "cannot record task outcome execution_id={} task={}",
                    outcome.execution_id,
                    outcome.task_name,
                )
                continue
            for listener in self._finished_listeners:
                listener(result.finished)

    def _finish(self, claimed: Claimed, outcome: TaskOutcome) -> None:
        self._outcomes.append(
            ops.Outcome(
                claimed.task_pk,
                claimed.execution_id,
                claimed.task_name,
                claimed.attempt,
                "completed" if outcome.ok else "failed",
                output=outcome.output,
                error=outcome.error,
                claimant_id=self.claimant_id,
                captured=outcome.captured or None,
            )
        )
        del self._inflight[claimed.task_pk]
        self._kick()

    async def _heartbeat_loop(self) -> None:
        while True:
            # claims held: refresh them on time; idle: only keep the claimant row alive
            # and look for orphans of dead engines, at half the rate
            idle = not self._inflight
            await trio.sleep(self.config.heartbeat_interval_s * (2 if idle else 1))
            try:
                await self._db(
                    partial(claimants.heartbeat, claimant_id=self.claimant_id, now=self.clock())
                )
                await self._recover()
            except Exception:
                logger.exception("heartbeat/recovery failed; will retry")

    async def _checkpoint_loop(self) -> None:
        while True:
            # nothing written, nothing to copy back: an idle engine does not wake for it
            await self._dirty.wait()
            self._dirty = trio.Event()
            await trio.sleep(self.config.checkpoint_interval_s)
            try:
                await trio.to_thread.run_sync(self.store.checkpoint)
            except Exception:
                logger.exception("WAL checkpoint failed; will retry")

    def _apply(self, conn: Any, outcomes: list[ops.Outcome], now: dt.datetime) -> CycleResult:
        result = CycleResult()
        ops.apply_outcomes(
            conn, self.sql, outcomes, self.defs, now, self.settings, self._rng, result
        )
        return result

    async def _recover(self) -> None:
        now = self.clock()
        stale = dt.timedelta(seconds=self.config.stale_after_s)

        def work(conn: Any) -> int:
            verdicts, dead = recovery.orphaned_tasks(conn, self.me, now, stale)
            if verdicts:
                finished = self._apply(conn, verdicts, now).finished
                if finished:
                    for listener in self._finished_listeners:
                        listener(finished)
            claimants.forget_claimants(conn, dead)
            return len(verdicts)

        if await self._db(work):
            logger.info("recovered tasks of dead claimants")
            self._kick()

    async def _release(self) -> None:
        """On exit: hand unfinished claims back (reset) and record what finished."""
        now = self.clock()
        me = self.claimant_id
        outcomes = list(self._outcomes) + [
            ops.Outcome(c.task_pk, c.execution_id, c.task_name, c.attempt, "reset", claimant_id=me)
            for c in self._inflight.values()
        ]

        def work(conn: Any) -> None:
            if outcomes:
                self._apply(conn, outcomes, now)
            claimants.unregister_claimant(conn, me)

        try:
            await self._db(work)
        except Exception:
            logger.exception("could not release claims on shutdown; recovery will reset them")

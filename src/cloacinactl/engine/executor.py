"""The executor: a trio shell around :mod:`cloacinactl.engine.ops`.

One *writer* task owns the engine's database work. It collects what arrived
since its last transaction (new executions, finished attempts: the
:class:`~cloacinactl.engine.workqueue.WorkQueue`) and runs :func:`ops.cycle` on
a thread: create + record + advance + claim, one commit. While more work is
already queued, that thread runs the next cycle at once, handing each committed
result back to trio in commit order. Claimed tasks are handed to the task
runner (the worker pool); their outcomes come back to the queue. Beside it
(:mod:`~cloacinactl.engine.upkeep`): heartbeats, recovery of tasks whose
claimant died, SQLite checkpoints.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import trio
from loguru import logger

from cloacinactl.engine import ops, upkeep
from cloacinactl.engine.advance import CycleResult
from cloacinactl.engine.dispatch import Dispatch
from cloacinactl.engine.secretsource import SecretSource
from cloacinactl.engine.taskrun import TaskOutcome, TaskRunner
from cloacinactl.engine.workqueue import WorkQueue
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


T = TypeVar("T")
ISOLATE_AFTER = 3  # consecutive failed cycles before items are applied one by one
CHAIN_MAX = 16  # cycles the writer's thread runs back to back before trio's turn
Listener = Callable[[Mapping[str, ExecutionResult | None]], None]
Create = tuple[ops.NewExecution, trio.Event]  # a new execution and its creator's wake-up


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
        self.rng = random.Random()  # retry backoff jitter
        self.queue: WorkQueue[Create, ops.Outcome] = WorkQueue()
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
        self._token: trio.lowlevel.TrioToken | None = None  # the writer's (see _chain)
        self.dispatch = Dispatch(store, runner, secrets, self._finish)

    # -- public API ------------------------------------------------------------------
    def on_finished(self, listener: Listener) -> None:
        """Call ``listener({execution_id: result})`` after executions finish here."""
        self._finished_listeners.append(listener)

    async def create(self, item: ops.NewExecution) -> None:
        """Create an execution in the writer's next transaction; returns once committed."""
        done = trio.Event()
        self.queue.add_create((item, done))
        self.kick()
        await done.wait()
        error = self._create_errors.pop(item.id, None)
        if error is not None:
            raise CloacinaError(f"could not create the execution: {error}") from error

    def kick(self) -> None:
        """Look for claimable work now (e.g. after an out-of-band change)."""
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def held_claims(self) -> list[Claimed]:
        """The claims handed to the runner whose outcomes are not recorded yet."""
        return list(self._inflight.values())

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(conn)`` in a write transaction of its own, on a thread."""
        return await trio.to_thread.run_sync(self.store.write, fn)

    async def committed(self) -> None:
        """Return once the writer has committed work since the last call returned."""
        await self._dirty.wait()
        self._dirty = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Register, recover, then run the writer and heartbeat loops until cancelled."""
        now = self.clock()
        await self.write(lambda c: claimants.register_claimant(c, self.me, now))
        await upkeep.recover(self)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(upkeep.heartbeat_loop, self)
                if self.store.backend == "sqlite":
                    nursery.start_soon(upkeep.checkpoint_loop, self)
                await nursery.start(self._writer, nursery)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True):
                await upkeep.release(self)

    async def drain(self, deadline_s: float) -> bool:
        """Stop claiming and wait up to ``deadline_s`` for in-flight tasks; True if all done."""
        self._claiming = False
        self.kick()
        with trio.move_on_after(deadline_s):
            while self._inflight or self.queue.pending() or self.queue.undelivered:
                await trio.sleep(0.01)
            return True
        return False

    # -- internals -------------------------------------------------------------------
    async def _writer(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._token = trio.lowlevel.current_trio_token()
        task_status.started()
        more = True
        idle_wait = self.config.poll_interval_s
        while True:
            limit = self._claim_limit()
            if not self.queue.pending() and not (more and limit > 0):
                idle_wait = await self._sleep(limit, idle_wait)
                more = True
                continue
            creates, outcomes = self.queue.take()
            chained = await self._cycle(nursery, creates, outcomes, limit)
            if chained is not None:
                more = chained

    def _claim_limit(self) -> int:
        """How many tasks the next cycle may claim: room under ``concurrency``, counting
        claims committed but not yet handed to trio (``_deliver``)."""
        if not self._claiming:
            return 0
        room = self.config.concurrency - len(self._inflight) - self.queue.undelivered
        return max(0, min(room, self.config.batch_size))

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
        nursery: trio.Nursery,
        creates: list[Create],
        outcomes: list[ops.Outcome],
        limit: int,
    ) -> bool | None:
        """Cycles on the writer's thread (:meth:`_chain`); whether more claimable work
        may be waiting, or None (the work kept or isolated) if the first one failed."""
        try:
            # shielded: once committed, claims must be recorded in memory (or released)
            with trio.CancelScope(shield=True):
                more: bool = await trio.to_thread.run_sync(
                    self._chain, nursery, creates, outcomes, limit
                )
        except Exception:
            # keep the work: a transient database outage must not lose outcomes
            self._failures += 1
            logger.exception("engine cycle failed failures={}; retrying", self._failures)
            if self._failures >= ISOLATE_AFTER and len(creates) + len(outcomes) > 1:
                # one poisoned item must not stall everything: go one by one
                await self._isolate(creates, outcomes)
            else:
                self.queue.put_back(creates, outcomes)
                await trio.sleep(backoff.exponential(0.1, 2.0, self._failures, 5.0))
            return None
        self._failures = 0
        return more

    def _chain(
        self,
        nursery: trio.Nursery,
        creates: list[Create],
        outcomes: list[ops.Outcome],
        limit: int,
    ) -> bool:
        """On the writer's thread: one :func:`ops.cycle` transaction, its result handed
        to trio (``_deliver``, without waiting for it), then, while outcomes or new
        executions are already queued, the next cycle at once, up to ``CHAIN_MAX``.

        A cycle is the engine's one serial step; going back to trio between two of
        them (a thread hand-off, then a turn behind every runnable task) cost a
        quarter of its time under load. Raises if the first cycle fails; a later
        failure hands its work back to the writer, which retries it as any other."""
        token = self._token
        assert token is not None
        more = False
        for chained in range(CHAIN_MAX):
            try:
                result = self.store.write(self._cycle_work(creates, outcomes, limit))
            except Exception:
                if not chained:
                    raise
                logger.opt(exception=True).warning("engine cycle failed; retrying")
                token.run_sync_soon(self._requeue, creates, outcomes)
                return True
            self.queue.claimed(len(result.claimed))
            token.run_sync_soon(self._deliver, nursery, creates, result)
            more = len(result.claimed) >= limit > 0 or result.made_ready > 0
            if chained + 1 == CHAIN_MAX:
                break  # what is queued now waits for the writer's next turn
            creates, outcomes = self.queue.take()
            if not creates and not outcomes:
                break
            limit = self._claim_limit()
        return more

    def _cycle_work(
        self,
        creates: list[Create],
        outcomes: list[ops.Outcome],
        limit: int,
    ) -> Callable[[Any], CycleResult]:
        return partial(
            ops.cycle,
            sql=self.sql,
            claimant_id=self.claimant_id,
            defs=self.defs,
            now=self.clock(),
            create=[c for c, _ in creates],
            outcomes=outcomes,
            claim_limit=limit,
            settings=self.settings,
            rng=self.rng,
        )

    def _deliver(
        self,
        nursery: trio.Nursery,
        creates: list[Create],
        result: CycleResult,
    ) -> None:
        """In trio (``run_sync_soon``, in commit order): act on a committed cycle."""
        try:
            self._took(nursery, creates, result)
        except Exception:  # a callback must not raise into trio's run loop
            logger.exception("engine: acting on a committed cycle failed")
        finally:
            self.queue.delivered(len(result.claimed))

    def _requeue(self, creates: list[Create], outcomes: list[ops.Outcome]) -> None:
        self.queue.put_back(creates, outcomes)
        self.kick()

    def _took(
        self,
        nursery: trio.Nursery,
        creates: list[Create],
        result: CycleResult,
    ) -> None:
        """Act on a committed cycle: wake creators, run the claimed tasks, tell the
        listeners what finished."""
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
        self.tell_finished(result.finished)

    def tell_finished(self, finished: Mapping[str, ExecutionResult | None]) -> None:
        """In trio, after the commit: tell the listeners which executions finished."""
        if finished:
            for listener in self._finished_listeners:
                listener(finished)

    async def _isolate(self, creates: list[Create], outcomes: list[ops.Outcome]) -> None:
        """Apply each item in its own transaction; report what still fails."""

        async def one(creates: list[Create], outcomes: list[ops.Outcome]) -> CycleResult:
            with trio.CancelScope(shield=True):
                result: CycleResult = await self.write(self._cycle_work(creates, outcomes, 0))
            return result

        for item, done in creates:
            try:
                await one([(item, done)], [])
            except Exception as exc:
                logger.exception("cannot create execution execution_id={}", item.id)
                self._create_errors[item.id] = exc
            done.set()
        for outcome in outcomes:
            try:
                result = await one([], [outcome])
            except Exception:
                # left Running under this claimant: recovery resets it after a restart
                logger.exception(
                    "cannot record task outcome execution_id={} task={}",
                    outcome.execution_id,
                    outcome.task_name,
                )
                continue
            self.tell_finished(result.finished)

    def _finish(self, claimed: Claimed, outcome: TaskOutcome) -> None:
        outcome_row = ops.Outcome(
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
        self.queue.add_outcome(outcome_row)
        del self._inflight[claimed.task_pk]
        self.kick()

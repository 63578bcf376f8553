"""One reactor running in the service's trio tree (the shell around ``ReactorCore``).

Loop: read the accepted events after the cursor, run them through their
accumulators' functions in a worker (one call per run of events for the same
accumulator), feed the values to the core, fire the graph in a worker for each
firing, then commit fires + state + cursor together. A node that raises or
times out fails that fire only (recorded, counted); a worker crash does too,
but ``CRASH_LIMIT`` crashes in a row mark the reactor ``crashed`` with the
reason (it stops firing; its events wait, durable, for a reload or resume).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from cloacinactl.engine.graphs.clock import iso_now, now_utc
from cloacinactl.engine.graphs.reactor import Inputs, ReactorCore
from cloacinactl.store import graphs as gstore
from cloacinactl.workers.core import PoolClosed
from cloacinactl.workflow.graphs.model import AccumulatorDef, GraphDef, ReactorDef

if TYPE_CHECKING:
    from cloacinactl.engine.graphs.runtime import GraphRuntime
    from cloacinactl.workers import Source

CRASH_LIMIT = 3
BATCH = 500
INBOX_LIMIT = 20 * BATCH  # events held in memory beyond this: read them from the store


def digest(inputs: Any) -> str:
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ReactorRunner:
    runtime: GraphRuntime
    package: str
    source: Source
    reactor: ReactorDef
    graph: GraphDef | None
    accumulators: dict[str, AccumulatorDef]
    core: ReactorCore = field(init=False)
    cursor: int = 0
    paused: bool = False
    fires: int = 0
    failures: int = 0
    last_fired_at: dt.datetime | None = None
    crashed: str | None = None
    consecutive_crashes: int = 0
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    wake: trio.Event = field(default_factory=trio.Event)
    idle: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)
    started: bool = False
    # Events the runtime's writer committed for this reactor, handed over in memory
    # so the loop need not read back what was just written. ``synced``: the inbox
    # holds every stored event after the cursor (a read of the store that reached
    # its end, then every delivery since). Anything else (start-up, pause, crash,
    # a full inbox) falls back to reading the store until it is synced again.
    inbox: list[gstore.EventRow] = field(default_factory=list)
    synced: bool = False
    drops: int = 0

    def __post_init__(self) -> None:
        self.core = ReactorCore(self.reactor, self.accumulators)

    @property
    def state_label(self) -> str:
        if self.crashed is not None:
            return "crashed"
        if self.paused:
            return "paused"
        return "running" if self.graph is not None else "unbound"

    def poke(self) -> None:
        self.wake.set()

    def deliver(self, events: list[gstore.EventRow]) -> None:
        """Events just committed for this reactor, in id order (the writer's hand-over)."""
        if not self._active() or len(self.inbox) >= INBOX_LIMIT:
            self._unsync()
        else:
            self.inbox.extend(events)
        self.wake.set()

    def resync(self) -> None:
        """Read the store again (the inbox may have missed something)."""
        self._unsync()
        self.wake.set()

    def _unsync(self) -> None:
        self.inbox.clear()
        self.synced = False
        self.drops += 1

    async def _next_events(self) -> list[gstore.EventRow]:
        """The next events after the cursor: from the inbox when synced, else the store."""
        if not self._active():
            self._unsync()
            return []
        if self.synced:
            inbox, skip = self.inbox, 0
            while skip < len(inbox) and inbox[skip].id <= self.cursor:
                skip += 1  # delivered while the last read of the store ran: already read
            taken = inbox[skip : skip + BATCH]
            del inbox[: skip + BATCH]
            return taken
        drops, cursor = self.drops, self.cursor
        events = await trio.to_thread.run_sync(
            self.runtime.store.read,
            lambda c: gstore.pending_events(c, self.reactor.name, cursor, BATCH),
        )
        # reached the end of the store, and nothing delivered since was dropped: every
        # later event is in the inbox (it was committed after this read's snapshot)
        if len(events) < BATCH and drops == self.drops and self._active():
            self.synced = True
        return events

    def acc_stats(self, name: str) -> dict[str, Any]:
        return self.stats.setdefault(
            name,
            {
                "events_total": 0,
                "operator_injects": 0,
                "last_event_at": None,
                "last_operator_inject_at": None,
                "errors": 0,
                "last_error": None,
            },
        )

    async def restore(self) -> None:
        store = self.runtime.store
        row = await trio.to_thread.run_sync(
            store.write,
            lambda c: gstore.ensure_reactor(
                c,
                self.reactor.name,
                graph=None if self.graph is None else self.graph.name,
                package=self.package,
                now=now_utc(),
            ),
        )
        self.cursor, self.paused = row.cursor, row.paused
        self.fires, self.failures, self.last_fired_at = row.fires, row.failures, row.last_fired_at
        self.core = ReactorCore(self.reactor, self.accumulators, row.state)
        self.stats = {k: dict(v) for k, v in (row.stats or {}).items()}

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.started = True
        try:
            await self._serve(task_status)
        finally:
            self.done.set()

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        with self.scope:
            await self.restore()
            async with trio.open_nursery() as nursery:
                for acc in self.accumulators.values():
                    if acc.kind == "polling":
                        nursery.start_soon(self._poll, acc)
                task_status.started()
                try:
                    await self._loop()
                except PoolClosed:  # the service is stopping: the events wait, durable
                    logger.debug("reactor stopped with the pool reactor={}", self.reactor.name)
                    nursery.cancel_scope.cancel()

    async def _loop(self) -> None:
        while True:
            self.wake = trio.Event()
            events = await self._next_events()
            due = self.core.next_flush_ms()
            if events or (due is not None and due <= time.time() * 1000 and self._active()):
                await self._process(events)
                if events and self.cursor != events[-1].id:  # stopped early (crashed)
                    self._unsync()
                continue
            self.idle.set()
            with trio.move_on_at(self._deadline(due)):
                await self.wake.wait()
            self.idle = trio.Event()

    def _active(self) -> bool:
        return not self.paused and self.crashed is None and self.graph is not None

    @staticmethod
    def _deadline(due_ms: float | None) -> float:
        if due_ms is None:
            return trio.current_time() + 3600.0
        return trio.current_time() + max(0.0, due_ms / 1000 - time.time())

    async def _process(self, events: list[gstore.EventRow]) -> None:
        records: list[dict[str, Any]] = []
        failures = 0
        index = 0
        while index < len(events):
            event = events[index]
            if event.kind in ("force_fire", "fire_with"):
                failures += await self._fire_all(records, self.core.take_fires(), manual=False)
                inputs = (
                    self.core.replace_cache(event.payload or {})
                    if event.kind == "fire_with"
                    else self.core.current()
                )
                failures += await self._fire_all(records, [inputs], manual=True)
                index += 1
                continue
            run = [event]
            while (
                index + len(run) < len(events)
                and events[index + len(run)].accumulator == event.accumulator
                and events[index + len(run)].kind == event.kind
            ):
                run.append(events[index + len(run)])
            await self._accumulate(run)
            index += len(run)
            if self.reactor.input_strategy == "sequential":
                failures += await self._fire_all(records, self.core.take_fires(), manual=False)
            if self.crashed is not None:
                break
        self.core.flush_due(time.time() * 1000)
        if self.crashed is None:
            failures += await self._fire_all(records, self.core.take_fires(), manual=False)
        cursor = events[index - 1].id if index else self.cursor
        await self._commit(cursor, records, failures)

    async def _accumulate(self, run: list[gstore.EventRow]) -> None:
        name = run[0].accumulator or ""
        acc = self.accumulators.get(name)
        stats = self.acc_stats(name)
        if acc is None:
            return
        now_ms = time.time() * 1000
        if run[0].kind == "polled":
            values: list[Any] = [e.payload for e in run]
        else:
            for _attempt in range(2):  # a worker lost under the call (not its code): once more
                result, error = await self.runtime.pool.graph(
                    self.source,
                    "accumulate",
                    accumulator=name,
                    events=[e.payload for e in run],
                    timeout=self.runtime.call_timeout_s,
                )
                if result is not None:
                    break
            if result is None or (error is not None and "values" not in (result or {})):
                stats["errors"] += len(run)
                stats["last_error"] = None if error is None else error.message
                return
            values = list(result.get("values", []))
            for problem in result.get("errors", []):
                if problem is not None:
                    stats["errors"] += 1
                    stats["last_error"] = problem.get("message")
        stamp = iso_now()
        for value in values:
            if value is None:
                continue
            stats["events_total"] += 1
            stats["last_event_at"] = stamp
            self.core.accept(name, value, now_ms)

    async def _fire_all(
        self, records: list[dict[str, Any]], fires: list[Inputs], *, manual: bool
    ) -> int:
        failures = 0
        for inputs in fires:
            if self.crashed is not None:
                break
            record = await self._fire(inputs, manual)
            records.append(record)
            failures += 0 if record["ok"] else 1
        return failures

    async def _fire(self, inputs: Inputs, manual: bool) -> dict[str, Any]:
        assert self.graph is not None
        started = time.perf_counter()
        result, error = await self.runtime.pool.graph(
            self.source,
            "execute",
            graph=self.graph.name,
            inputs=inputs,
            timeout=self.runtime.call_timeout_s,
        )
        duration_ms = int((time.perf_counter() - started) * 1000)
        fired_at = now_utc()
        if error is not None and error.kind == "crashed":
            self.consecutive_crashes += 1
            if self.consecutive_crashes >= CRASH_LIMIT:
                self.crashed = (
                    f"{self.consecutive_crashes} fires in a row crashed a worker: {error.message}"
                )
                logger.error(
                    "reactor crashed reactor={} reason={}", self.reactor.name, self.crashed
                )
        else:
            self.consecutive_crashes = 0
        if error is not None:
            logger.warning(
                "graph fire failed graph={} reactor={} kind={} error={}",
                self.graph.name,
                self.reactor.name,
                error.kind,
                error.message,
            )
        self.runtime.fired(self.reactor.name, time.perf_counter())
        return {
            "reactor": self.reactor.name,
            "graph": self.graph.name,
            "fired_at": fired_at,
            "duration_ms": duration_ms,
            "ok": error is None,
            "error": None if error is None else error.message,
            "manual": manual,
            "inputs": inputs,
            "inputs_digest": digest(inputs),
            "path": (result or {}).get("path", []),
            "outputs": (result or {}).get("outputs", {}) if error is None else {},
        }

    async def _commit(self, cursor: int, records: list[dict[str, Any]], failures: int) -> None:
        # encoded here: a snapshot of what this batch left (the core goes on mutating)
        state = gstore.encode(self.core.state)
        stats = gstore.encode(self.stats)
        assert state is not None and stats is not None
        name = self.reactor.name
        every = gstore.PRUNE_EVERY
        prune = bool(records) and (self.fires + len(records)) // every != self.fires // every
        await trio.to_thread.run_sync(
            self.runtime.store.write,
            lambda c: gstore.commit_progress(
                c,
                name,
                cursor=cursor,
                state=state,
                stats=stats,
                fires=records,
                failures=failures,
                now=now_utc(),
                prune=prune,
            ),
        )
        self.runtime.wrote()
        self.cursor = cursor
        self.fires += len(records)
        self.failures += failures
        if records:
            self.last_fired_at = max(r["fired_at"] for r in records)

    async def _poll(self, acc: AccumulatorDef) -> None:
        interval = (acc.interval_ms or 1000) / 1000
        with contextlib.suppress(PoolClosed):
            await self._poll_loop(acc, interval)

    async def _poll_loop(self, acc: AccumulatorDef, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            if not self._active():
                continue
            result, error = await self.runtime.pool.graph(
                self.source, "poll", accumulator=acc.name, timeout=self.runtime.call_timeout_s
            )
            if error is not None or result is None:
                stats = self.acc_stats(acc.name)
                stats["errors"] += 1
                stats["last_error"] = None if error is None else error.message
                continue
            value = result.get("value")
            if value is not None:
                await self.runtime.accept(self.reactor.name, acc.name, "polled", value)

"""``GraphRuntime``: the loaded computation graphs of one store (a daemon, a tenant).

Usage (trio)::

    runtime = GraphRuntime(store, pool)
    await nursery.start(runtime.serve)
    await runtime.add_package("my-graphs", package.source(), package.description)
    await runtime.inject("pricing", {"mid_price": 101.5})   # durable before it returns
    runtime.graphs()                                         # health, upstream's shapes

Accepted events are written by one group-commit writer (many injects share a
transaction) and each reactor is a :class:`ReactorRunner` in the runtime's
nursery. Health is read from memory (what the runners hold) plus, for fires,
the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trio
from loguru import logger

from cloacinactl.engine.graphs.clock import iso, iso_now, now_utc
from cloacinactl.engine.graphs.health import (
    accumulator_status,
    graph_status,
    input_slot,
    reactor_status,
)
from cloacinactl.engine.graphs.runner import ReactorRunner
from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.store import Store
from cloacinactl.store import graphs as gstore
from cloacinactl.workflow.graphs.model import AccumulatorDef, GraphDef, ReactorDef, schema_problem


class GraphNotFoundError(NotFoundError):
    """No loaded graph, reactor or accumulator of that name."""


class GraphInputError(UserError):
    """An inject or fire that cannot be accepted (bad event, polling accumulator, ...)."""


class GraphConflictError(UserError):
    """A package declares a graph, reactor or accumulator another package already has."""


CHECKPOINT_INTERVAL_S = 1.0


@dataclass
class _Waiter:
    row: gstore.EncodedEvent
    done: trio.Event = field(default_factory=trio.Event)
    error: BaseException | None = None


@dataclass
class _Package:
    name: str
    runners: list[ReactorRunner]
    accumulators: dict[str, AccumulatorDef]
    unbound: list[ReactorDef]


class GraphRuntime:
    def __init__(self, store: Store, pool: Any, *, call_timeout_s: float = 30.0) -> None:
        self.store = store
        self.pool = pool
        self.call_timeout_s = call_timeout_s
        self.tenant: str | None = None
        self._packages: dict[str, _Package] = {}
        self._queue: list[_Waiter] = []
        self._queued = trio.Event()
        self._dirty = trio.Event()  # set when events were committed (SQLite checkpoints)
        self._nursery: trio.Nursery | None = None
        self.fire_listeners: list[Callable[[str, float], None]] = []

    # -- running
    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._writer)
            if self.store.backend == "sqlite":
                nursery.start_soon(self._checkpointer)
            task_status.started()
            await trio.sleep_forever()

    def wrote(self) -> None:
        """Something was committed (the checkpointer wakes for it)."""
        self._dirty.set()

    def fired(self, reactor: str, at: float) -> None:
        for listener in self.fire_listeners:
            listener(reactor, at)

    async def add_package(self, name: str, source: Any, description: Mapping[str, Any]) -> None:
        """Start the reactors of a loaded package (replacing its previous version)."""
        assert self._nursery is not None, "GraphRuntime.serve is not running"
        accs = {a["name"]: AccumulatorDef.from_dict(a) for a in description.get("accumulators", [])}
        graphs = [GraphDef.from_dict(g) for g in description.get("graphs", [])]
        reactors = [ReactorDef.from_dict(r) for r in description.get("reactors", [])]
        if not accs and not graphs and not reactors:
            return
        await self.remove_package(name)
        self._check_conflicts(name, accs, reactors, graphs)
        bound = {g.reactor.name: g for g in graphs if g.reactor is not None}
        runners: list[ReactorRunner] = []
        unbound: list[ReactorDef] = []
        for reactor in reactors:
            graph = bound.get(reactor.name)
            if graph is None:
                unbound.append(reactor)
                continue
            watched = {a: accs[a] for a in reactor.accumulators if a in accs}
            runners.append(ReactorRunner(self, name, source, reactor, graph, watched))
        package = _Package(name, runners, accs, unbound)
        self._packages[name] = package
        try:
            for runner in runners:
                await self._nursery.start(runner.serve)
        except BaseException:
            await self.remove_package(name)
            raise
        logger.info(
            "graphs loaded package={} graphs={} reactors={}",
            name,
            [g.name for g in graphs],
            [r.reactor.name for r in runners],
        )

    def _check_conflicts(
        self,
        name: str,
        accs: Mapping[str, AccumulatorDef],
        reactors: list[ReactorDef],
        graphs: list[GraphDef],
    ) -> None:
        for other in self._packages.values():
            for kind, mine, theirs in (
                ("accumulator", set(accs), set(other.accumulators)),
                ("reactor", {r.name for r in reactors}, {r.reactor.name for r in other.runners}),
                (
                    "graph",
                    {g.name for g in graphs},
                    {r.graph.name for r in other.runners if r.graph},
                ),
            ):
                clash = sorted(mine & theirs)
                if clash:
                    raise GraphConflictError(
                        f"{kind} {clash[0]!r} is already provided by package {other.name!r}"
                    )

    async def remove_package(self, name: str) -> None:
        package = self._packages.pop(name, None)
        if package is None:
            return
        for runner in package.runners:
            runner.scope.cancel()
        for runner in package.runners:  # never two runners of one reactor at once
            if runner.started:
                await runner.done.wait()

    def _runners(self) -> list[ReactorRunner]:
        return [r for p in self._packages.values() for r in p.runners]

    def runner(self, reactor: str) -> ReactorRunner:
        for runner in self._runners():
            if runner.reactor.name == reactor:
                return runner
        raise GraphNotFoundError(f"no loaded reactor {reactor!r}")

    def accumulator(self, name: str) -> tuple[AccumulatorDef, list[ReactorRunner]]:
        for package in self._packages.values():
            if name in package.accumulators:
                feeding = [r for r in package.runners if name in r.reactor.accumulators]
                return package.accumulators[name], feeding
        raise GraphNotFoundError(f"no loaded accumulator {name!r}")

    # -- feeding
    async def accept(self, reactor: str, accumulator: str | None, kind: str, payload: Any) -> None:
        """Make one event durable (group commit) and wake its reactor."""
        try:
            encoded = gstore.encode(payload)  # here: a bad payload fails its caller only
        except (TypeError, ValueError, RecursionError) as exc:
            raise GraphInputError(f"the event is not JSON: {exc}") from None
        waiter = _Waiter((reactor, accumulator, kind, encoded, now_utc()))
        self._queue.append(waiter)
        self._queued.set()
        await waiter.done.wait()
        if waiter.error is not None:
            raise waiter.error

    async def _writer(self) -> None:
        while True:
            await self._queued.wait()
            self._queued = trio.Event()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            rows = [w.row for w in batch]
            try:
                ids = await trio.to_thread.run_sync(self.store.write, _appender(rows))
            except Exception as exc:  # every waiter of the batch hears it
                logger.opt(exception=exc).error("graph events not stored: {}", exc)
                for waiter in batch:
                    waiter.error = exc
                for runner in self._runners():  # whatever happened, the store knows
                    runner.resync()
            else:
                self.wrote()
                self._deliver(rows, ids)
            for waiter in batch:
                waiter.done.set()

    def _deliver(self, rows: list[gstore.EncodedEvent], ids: list[int]) -> None:
        """Hand the events just committed to their reactors (decoded from what was
        stored, so a reactor sees exactly what a read of the store would give)."""
        runners: dict[str, ReactorRunner] = {}
        for runner in self._runners():
            runners.setdefault(runner.reactor.name, runner)
        events: dict[str, list[gstore.EventRow]] = {}
        for event_id, (reactor, accumulator, kind, payload, created_at) in zip(
            ids, rows, strict=True
        ):
            if reactor in runners:
                events.setdefault(reactor, []).append(
                    gstore.EventRow(
                        event_id, reactor, accumulator, kind, gstore.decode(payload), created_at
                    )
                )
        for reactor, delivered in events.items():
            runners[reactor].deliver(delivered)

    async def _checkpointer(self) -> None:
        """SQLite: copy the WAL back into the database in the background, at most once
        a second while graphs write, so no commit on the inject path pays for it (the
        events table churns: every event is inserted, then deleted once consumed)."""
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            await trio.sleep(CHECKPOINT_INTERVAL_S)
            try:
                await trio.to_thread.run_sync(self.store.checkpoint)
            except Exception:
                logger.exception("WAL checkpoint failed; will retry")

    async def inject(self, name: str, event: Any) -> int:
        """An operator event into accumulator ``name``; the number of reactors fed."""
        acc, feeding = self.accumulator(name)
        if not acc.injectable:
            raise GraphInputError(
                f"accumulator {name!r} is a polling accumulator; it produces its own events"
                " and cannot be injected into"
            )
        problem = schema_problem(acc, event)
        if problem is not None:
            raise GraphInputError(problem)
        if len(feeding) == 1:  # the usual case, without a nursery per event
            await self.accept(feeding[0].reactor.name, name, "event", event)
        else:
            async with trio.open_nursery() as nursery:
                for runner in feeding:
                    nursery.start_soon(self.accept, runner.reactor.name, name, "event", event)
        stamp = iso_now()
        for runner in feeding:
            stats = runner.acc_stats(name)
            stats["operator_injects"] += 1
            stats["last_operator_inject_at"] = stamp
        return len(feeding)

    async def fire(self, reactor: str, mode: str, inputs: Mapping[str, Any] | None) -> list[str]:
        """A manual fire (``force_fire`` / ``fire_with``); the sources injected."""
        runner = self.runner(reactor)
        if runner.graph is None:
            raise GraphInputError(f"reactor {reactor!r} has no graph bound to it")
        if mode == "force_fire":
            await self.accept(reactor, None, "force_fire", None)
            return []
        if mode != "fire_with":
            raise GraphInputError(f"mode must be force_fire or fire_with, not {mode!r}")
        if not inputs:
            raise GraphInputError("fire_with needs a non-empty 'inputs' object")
        for source, value in inputs.items():
            if source not in runner.reactor.accumulators:
                raise GraphInputError(
                    f"{source!r} is not an accumulator of reactor {reactor!r}"
                    f" ({', '.join(runner.reactor.accumulators)})"
                )
            problem = schema_problem(runner.accumulators[source], value)
            if problem is not None:
                raise GraphInputError(problem)
        await self.accept(reactor, None, "fire_with", dict(inputs))
        return list(inputs)

    async def set_paused(self, reactor: str, paused: bool) -> None:
        runner = self.runner(reactor)
        await trio.to_thread.run_sync(
            self.store.write, lambda c: gstore.set_paused(c, reactor, paused, now_utc())
        )
        runner.paused = paused
        if not paused:
            runner.crashed = None
            runner.consecutive_crashes = 0
        runner.poke()

    # -- health (upstream's shapes)
    def graphs(self) -> list[dict[str, Any]]:
        return [graph_status(r, self.tenant) for r in self._runners()]

    def graph(self, name: str) -> dict[str, Any]:
        for runner in self._runners():
            if runner.graph is not None and runner.graph.name == name:
                return {**graph_status(runner, self.tenant), "source_package": runner.package}
        raise GraphNotFoundError(f"no loaded computation graph {name!r}")

    def reactors(self) -> list[dict[str, Any]]:
        rows = [reactor_status(r, None) for r in self._runners()]
        for package in self._packages.values():
            rows.extend(reactor_status(None, reactor) for reactor in package.unbound)
        return rows

    def accumulators(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for package in self._packages.values():
            for name, acc in package.accumulators.items():
                feeding = [r for r in package.runners if name in r.reactor.accumulators]
                rows.append(accumulator_status(acc, feeding, self.tenant))
        return rows

    def interface(self, kind: str, name: str) -> dict[str, Any]:
        """Upstream's ``DeclaredSurface`` of an accumulator or a reactor."""
        if kind == "accumulator":
            acc, _ = self.accumulator(name)
            return {
                "kind": kind,
                "name": name,
                "slots": [input_slot(acc)] if acc.injectable else [],
            }
        runner = self.runner(name)
        slots = [input_slot(a) for a in runner.accumulators.values()]
        return {"kind": "reactor", "name": name, "slots": slots}

    async def fires(self, reactor: str, limit: int = 50) -> list[dict[str, Any]]:
        self.runner(reactor)
        return await trio.to_thread.run_sync(
            self.store.read, lambda c: gstore.recent_fires(c, reactor, limit)
        )

    def summary(self) -> dict[str, Any]:
        """For ``daemon status``: counts and each graph's state."""
        runners = self._runners()
        return {
            "loaded": len(runners),
            "fires": sum(r.fires for r in runners),
            "failures": sum(r.failures for r in runners),
            "items": [
                {
                    "name": r.graph.name if r.graph else r.reactor.name,
                    "reactor": r.reactor.name,
                    "state": r.state_label,
                    "fires": r.fires,
                    "failures": r.failures,
                    "reason": r.crashed,
                    "last_fired_at": iso(r.last_fired_at),
                }
                for r in runners
            ],
        }

    async def wait_idle(self, reactor: str) -> None:
        """Until the reactor has nothing left to do (tests, benchmarks)."""
        runner = self.runner(reactor)
        while True:
            await runner.idle.wait()
            pending = await trio.to_thread.run_sync(
                self.store.read, lambda c: gstore.pending_count(c, reactor, runner.cursor)
            )
            if pending == 0 and not self._queue and runner.idle.is_set():
                return
            await trio.sleep(0.01)


def _appender(rows: list[gstore.EncodedEvent]) -> Callable[[Any], list[int]]:
    return lambda conn: gstore.append_encoded(conn, rows)


__all__ = [
    "GraphConflictError",
    "GraphInputError",
    "GraphNotFoundError",
    "GraphRuntime",
]

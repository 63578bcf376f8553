"""Graph benchmarks: inject → fired latency and sustained events/s, passthrough graph, SQLite.

Run: ``.venv/bin/python -m benchmarks.graphs [--latency N] [--events N] [--workers N]``.

What is measured is the runtime a service runs (``GraphRuntime`` with a real
worker pool and a real SQLite store in WAL mode), minus HTTP:

- latency: one event at a time, from ``inject`` being called (it returns once
  the event is durable) to the fire having run its node in a worker;
- throughput: ``--events`` injects from 64 concurrent callers, until every
  event has been consumed by the reactor (accumulator function + firing in
  workers, fires, state and cursor committed). ``latest`` collapses events that
  arrive while a fire runs, as it should, so fires ≤ events.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import trio
from loguru import logger

from cloacinactl.engine.graphs import GraphRuntime
from cloacinactl.packages import PackageLoader, pack_dir
from cloacinactl.store import open_store
from cloacinactl.workers import PoolImporter, WorkerPool, source_from_dict

GRAPH = """\
import cloaca

@cloaca.passthrough_accumulator
def ticks(event):
    return event

@cloaca.reactor(name="ticker", accumulators=["ticks"], mode="when_any")
class Ticker:
    pass

with cloaca.ComputationGraphBuilder("ticker", reactor=Ticker,
                                    graph={"double": {"inputs": ["ticks"]}}):
    @cloaca.node
    def double(ticks):
        return {"value": ticks["value"] * 2}
"""


def write_package(tmp: Path) -> Path:
    root = tmp / "ticker-0.1.0"
    (root / "workflow" / "ticker").mkdir(parents=True)
    (root / "package.toml").write_text(
        textwrap.dedent(
            """\
            [package]
            name = "ticker"
            version = "0.1.0"

            [metadata]
            graph_name = "ticker"
            """
        )
    )
    (root / "workflow" / "ticker" / "__init__.py").write_text("")
    (root / "workflow" / "ticker" / "graph.py").write_text(GRAPH)
    return root


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    store = open_store(f"sqlite:///{tmp / 'bench.db'}")
    pool = WorkerPool(args.workers, service="cloacina-bench")
    runtime = GraphRuntime(store, pool)
    fired = trio.Event()

    def on_fire(_reactor: str, _at: float) -> None:
        fired.set()

    runtime.fire_listeners.append(on_fire)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        await nursery.start(runtime.serve)
        archive = pack_dir(write_package(tmp), tmp / "ticker.cloacina").path
        package = await PackageLoader(tmp / "cache").aload(archive, PoolImporter(pool))
        await runtime.add_package("ticker", source_from_dict(package.source()), package.description)
        # warm-up: the workers import the package
        for i in range(20):
            fired = trio.Event()
            await runtime.inject("ticks", {"value": i})
            await fired.wait()
        await runtime.wait_idle("ticker")

        latencies: list[float] = []
        for i in range(args.latency):
            fired = trio.Event()
            started = time.perf_counter()
            await runtime.inject("ticks", {"value": i})
            await fired.wait()
            latencies.append((time.perf_counter() - started) * 1000)
            await runtime.wait_idle("ticker")
        print(
            f"inject→fired latency (n={len(latencies)}): p50 {pct(latencies, 0.5):.2f} ms,"
            f" p99 {pct(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms"
        )

        fires_before = runtime.runner("ticker").fires
        per_caller = args.events // 64
        started = time.perf_counter()

        async def caller(offset: int) -> None:
            for i in range(per_caller):
                await runtime.inject("ticks", {"value": offset + i})

        async with trio.open_nursery() as callers:
            for c in range(64):
                callers.start_soon(caller, c * per_caller)
        accepted = time.perf_counter() - started
        await runtime.wait_idle("ticker")
        done = time.perf_counter() - started
        total = per_caller * 64
        fires = runtime.runner("ticker").fires - fires_before
        print(
            f"sustained: {total} events accepted in {accepted:.2f} s"
            f" ({total / accepted:,.0f} events/s durable), all consumed in {done:.2f} s"
            f" ({total / done:,.0f} events/s end to end), {fires} fires"
        )
        await pool.stop()
        nursery.cancel_scope.cancel()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(bench, args, Path(tmp))


if __name__ == "__main__":
    main()

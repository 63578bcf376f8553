"""Graph benchmarks: inject → fired latency and sustained events/s, passthrough graph, SQLite.

Run: ``.venv/bin/python -m benchmarks.graphs [--latency N] [--events N] [--workers N]
[--repeat N]`` (``--repeat``: that many fresh runs, then their medians).

What is measured is the runtime a service runs (``GraphRuntime`` with a real
worker pool and a real SQLite store in WAL mode), minus HTTP:

- latency: one event at a time, from ``inject`` being called (it returns once
  the event is durable) to the fire having run its node in a worker;
- throughput: ``--events`` injects from 64 concurrent callers, until every
  event has been consumed by the reactor (accumulator function + firing in
  workers, fires, state and cursor committed). ``latest`` collapses events that
  arrive while a fire runs, as it should, so fires ≤ events.

Beside the wall-clock figures it prints the CPU time spent per event during the
sustained phase: by the service process (every thread: trio, the store's
threads) and by its worker processes. CPU time is much less sensitive than
wall time to other load on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
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


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def workers_cpu() -> float:
    return sum(cpu_seconds(child) for child in psutil.Process().children(recursive=True))


async def bench(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
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
        cpu_before, workers_before = time.process_time(), workers_cpu()
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
        service_cpu = time.process_time() - cpu_before
        worker_cpu = workers_cpu() - workers_before
        total = per_caller * 64
        fires = runtime.runner("ticker").fires - fires_before
        print(
            f"sustained: {total} events accepted in {accepted:.2f} s"
            f" ({total / accepted:,.0f} events/s durable), all consumed in {done:.2f} s"
            f" ({total / done:,.0f} events/s end to end), {fires} fires"
        )
        print(
            f"CPU per event: service {service_cpu / total * 1e6:.0f} µs,"
            f" workers {worker_cpu / total * 1e6:.0f} µs"
            f" (load average {psutil.getloadavg()[0]:.2f})"
        )
        await pool.stop()
        nursery.cancel_scope.cancel()
    store.close()
    return {
        "p50 ms": pct(latencies, 0.5),
        "p99 ms": pct(latencies, 0.99),
        "durable events/s": total / accepted,
        "end-to-end events/s": total / done,
        "service CPU µs/event": service_cpu / total * 1e6,
        "worker CPU µs/event": worker_cpu / total * 1e6,
        "load average": psutil.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=int, default=300)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(trio.run(bench, args, Path(tmp)))
    if len(runs) > 1:
        print(f"medians of {len(runs)} runs:")
        for key in runs[0]:
            values = [run[key] for run in runs]
            print(
                f"  {key}: {statistics.median(values):,.2f}"
                f" (min {min(values):,.2f}, max {max(values):,.2f})"
            )


if __name__ == "__main__":
    main()

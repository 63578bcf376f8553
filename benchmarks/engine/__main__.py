"""``python -m benchmarks.engine``: the engine on SQLite and PostgreSQL, Prefect 3, and
the raw-SQLite probe, on the simple / pipeline / parallel shapes.

Prints, per run: workflows/s, tasks/s, p50/p99 task-ready -> task-started latency (ms).
PostgreSQL runs when CLOACINA_BENCH_POSTGRES_URL or CLOACINA_TEST_POSTGRES_URL points
at a server (a scratch database is created and dropped). Prefect is installed on
first use into .bench-envs/prefect.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trio

from benchmarks.engine import prefect_env
from benchmarks.engine.engine_run import Figures, measure
from benchmarks.engine.probe import sqlite_probe

TARGETS = "targets on SQLite: parallel >= 2000 tasks/s, simple >= 500 wf/s, p99 <= 20 ms"


@contextmanager
def scratch_pg(server_url: str) -> Iterator[str]:
    import psycopg

    admin = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = f"cloacina_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def row(label: str, wf_s: float, tasks_s: float, p50: str = "-", p99: str = "-") -> str:
    return f"{label:<34} {wf_s:>10.1f} {tasks_s:>10.1f} {p50:>8} {p99:>8}"


def show(f: Figures) -> None:
    label = f"cloacina {f.backend}/{f.runner} {f.shape}"
    note = f"  ({f.failed} failed)" if f.failed else ""
    print(
        row(label, f.workflows_per_s, f.tasks_per_s, f"{f.p50_ms:.2f}", f"{f.p99_ms:.2f}") + note,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__)
    p.add_argument("--workflows", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--shapes", default="simple,pipeline,parallel")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument(
        "--runner",
        default="inline,pool",
        help="inline (task code in the engine process) and/or pool (worker processes)",
    )
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument(
        "--prefect-workflows",
        type=int,
        default=100,
        help="Prefect is slow; rates are per second so a smaller count compares",
    )
    p.add_argument("--no-prefect", action="store_true")
    args = p.parse_args(argv)
    from loguru import logger

    logger.remove()  # the library's debug chatter would bury the table
    logger.add(sys.stderr, level="WARNING")
    shapes = args.shapes.split(",")
    pg = os.environ.get("CLOACINA_BENCH_POSTGRES_URL") or os.environ.get(
        "CLOACINA_TEST_POSTGRES_URL"
    )
    print(f"workflows={args.workflows} concurrency={args.concurrency} workers={args.workers}")
    print(f"{'run':<34} {'wf/s':>10} {'tasks/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-") as tmp:
        probe = sqlite_probe(Path(tmp) / "probe.db")
        print(row("raw-SQLite probe (2 commits/task)", float("nan"), probe), flush=True)
        results: dict[tuple[str, str, str], Figures] = {}
        for backend in args.backends.split(","):
            if backend == "postgresql" and not pg:
                print("postgresql: skipped (set CLOACINA_BENCH_POSTGRES_URL)")
                continue
            for kind in args.runner.split(","):
                for shape in shapes:
                    if backend == "sqlite":
                        url = f"sqlite:///{tmp}/{kind}-{shape}.db"
                        f = trio.run(
                            measure,
                            url,
                            backend,
                            shape,
                            args.workflows,
                            args.concurrency,
                            kind,
                            args.workers,
                        )
                    else:
                        assert pg is not None
                        with scratch_pg(pg) as url:
                            f = trio.run(
                                measure,
                                url,
                                backend,
                                shape,
                                args.workflows,
                                args.concurrency,
                                kind,
                                args.workers,
                            )
                    results[(backend, kind, shape)] = f
                    show(f)
        if not args.no_prefect:
            prefect = prefect_env.run_all(shapes, args.prefect_workflows, args.concurrency)
            for shape, figures in prefect.items():
                if "error" in figures:
                    print(f"prefect {shape}: {figures['error']}")
                    continue
                print(
                    row(
                        f"prefect3 local {shape}",
                        figures["workflows_per_s"],
                        figures["tasks_per_s"],
                    ),
                    flush=True,
                )
                for kind in ("inline", "pool"):
                    mine = results.get(("sqlite", kind, shape))
                    if mine:
                        print(
                            f"{'':<34} cloacina sqlite/{kind} = "
                            f"{mine.tasks_per_s / figures['tasks_per_s']:.0f}x prefect tasks/s"
                        )
    print(TARGETS)
    return 0


if __name__ == "__main__":
    sys.exit(main())

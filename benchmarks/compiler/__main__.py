"""Compiler benchmarks: upload → built latency and builds per minute, 1 and 2 compilers.

Run: ``.venv/bin/python -m benchmarks.compiler [--packages N] [--database-url URL]``.
Real ``cloacina-compiler`` processes build packages stored the way the upload
route stores them (a ``pending`` row plus its source archive, then NOTIFY).
Two kinds: a pure-Python package, and one whose ``requirements.txt`` names a
local wheel (pip installs it into ``vendor/``, no network). Every upload is a
distinct source (no artifact reuse). Latency is from the upload's commit until
the row reads ``success`` (polled every 20 ms); builds/minute is the count
over the time from the first upload to the last success. Default database: a
temporary SQLite file; pass a PostgreSQL URL to measure that (a fresh
database per run is best: the queue must start empty).

The package and process helpers are the compiler tests' own
(``tests/compiler/build_helpers.py``, ``tests/compiler/compiler_procs.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "compiler"), str(ROOT / "tests" / "services")]

from build_helpers import TASKS, make_wheel, source_archive, upload  # noqa: E402
from compiler_procs import Compiler  # noqa: E402
from svc_helpers import Services  # noqa: E402

from cloacinactl.store import open_store  # noqa: E402
from cloacinactl.store.packages import get_package  # noqa: E402


def sources(tmp: Path, kind: str, count: int, tag: str) -> list[tuple[str, bytes]]:
    wheel = make_wheel(tmp / "wheels", "tinylib", "1.0", "ANSWER = 42\n")
    out = []
    for i in range(count):
        name = f"bench-{tag}-{kind}-{i}"
        extra: dict[str, str | bytes] = {}
        tasks = f"# {name}\n" + TASKS
        if kind == "wheel":
            extra = {
                f"wheels/{wheel.name}": wheel.read_bytes(),
                "requirements.txt": f"./wheels/{wheel.name}\n",
            }
            tasks = "import tinylib\n" + tasks
        out.append((name, source_archive(tmp / "src" / name, name, tasks=tasks, extra=extra)))
    return out


def wait_built(store: object, started: dict[str, float], done: dict[str, float]) -> None:
    deadline = time.monotonic() + 600
    while len(done) < len(started) and time.monotonic() < deadline:
        for pid in [p for p in started if p not in done]:
            row = store.read(lambda c, p=pid: get_package(c, p))  # type: ignore[attr-defined]
            if row.build_status == "failed":
                raise SystemExit(f"build failed: {row.build_error}")
            if row.build_status == "success":
                done[pid] = time.monotonic()
        time.sleep(0.02)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(db_url: str, compilers: int, kind: str, count: int, tmp: Path, one_by_one: bool) -> None:
    services = Services(tmp / "home")
    try:
        procs = [
            Compiler(
                services, tmp / f"c{compilers}-{i}-{kind}", db_url, "--poll-interval-ms", "200"
            )
            for i in range(compilers)
        ]
        tag = f"{compilers}x{time.monotonic_ns()}"
        items = sources(tmp / f"{kind}-{tag}", kind, count, tag)
        started: dict[str, float] = {}
        done: dict[str, float] = {}
        with open_store(db_url) as store:
            t0 = time.monotonic()
            batches = [[item] for item in items] if one_by_one else [items]
            for batch in batches:
                for name, data in batch:
                    pid = upload(store, data, name)
                    started[pid] = time.monotonic()
                wait_built(store, started, done)
        latencies = [(done[p] - started[p]) * 1000 for p in done]
        span = max(done.values()) - t0
        mode = "one at a time" if one_by_one else "all at once"
        p50 = statistics.median(latencies)
        print(
            f"{compilers} compiler(s), {kind:6s}, {mode:13s}: {len(done)} builds in {span:.1f}s"
            f" = {len(done) / span * 60:.0f} builds/min; upload->built p50 {p50:.0f} ms,"
            f" p95 {pct(latencies, 0.95):.0f} ms"
        )
        for proc in procs:
            proc.proc.terminate()
            proc.proc.wait(timeout=30)
    finally:
        services.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", type=int, default=20, help="uploads per run (default 20)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-compiler-") as tmp_name:
        tmp = Path(tmp_name)
        db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        for kind in ("python", "wheel"):
            run(db_url, 1, kind, args.packages, tmp / f"seq-{kind}", one_by_one=True)
        for compilers in (1, 2):
            for kind in ("python", "wheel"):
                where = tmp / f"run-{compilers}-{kind}"
                run(db_url, compilers, kind, args.packages, where, one_by_one=False)


if __name__ == "__main__":
    main()

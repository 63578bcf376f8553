"""``python -m benchmarks.server [--seconds S] [--repeat N] [--clients 1,16,64] [--scale-out]``.

The real ``cloacina-server`` (SQLite, temp home, default logging) beside the
ceiling: a bare hypercorn-trio ASGI app answering the same bytes in the same run,
their runs interleaved.
For ``/health`` and an authenticated list (``GET /v1/tenants/public/workflows``
when that route exists, else ``GET /v1/tenants``), at each client count: the
median over repeats of requests/s, p50 and p99 latency. Goal: the authenticated
list at >= 50 % of the ceiling's requests/s.

Then, on the same server (``execute.py``): execute -> Completed latency of a
1-task workflow (p50/p99 over ``--latency-runs`` sequential runs; goal p50 <=
50 ms) and ``POST …/execute`` requests/s at ``--execute-clients`` (1 and 16).
``--sections http`` or ``--sections execute`` runs one part only.

``--scale-out`` (needs ``CLOACINA_TEST_POSTGRES_URL``; ``scaleout.py``): three
servers on a brand-new PostgreSQL database: tasks/s and duplicate task bodies
(goal 0) over ``--repeat`` batches of ``--scale-executions`` executions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import trio

from benchmarks.server import execute
from benchmarks.server.load import Result, run_load
from benchmarks.server.scaleout import report, scale_out
from benchmarks.server.servers import ours, wait_until

PG_ENV = "CLOACINA_TEST_POSTGRES_URL"
LIST_PATHS = ("/v1/tenants/public/workflows", "/v1/tenants")


@contextmanager
def bare(root: Path, bodies: dict[str, str]) -> Iterator[int]:
    port_file = root / "bare.port"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server.bare", str(port_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(bodies).encode())
        proc.stdin.close()
        wait_until(lambda: port_file.exists() and port_file.read_text().strip() != "", "bare app")
        yield int(port_file.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def median_result(results: list[Result]) -> tuple[float, float, float, int]:
    return (
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def measure_pair(
    ours_port: int,
    bare_port: int,
    path: str,
    key: str | None,
    clients: int,
    args: argparse.Namespace,
) -> tuple[Result, Result]:
    """Our server and the bare app on one route, their runs interleaved (ours, bare,
    ours, ...) so that a change in the machine's load falls on both alike."""
    runs: dict[int, list[Result]] = {ours_port: [], bare_port: []}
    for port in runs:  # warm-up
        trio.run(
            run_load, "127.0.0.1", port, path, key if port == ours_port else None, clients, 0.3
        )
    for _ in range(args.repeat):
        for port, results in runs.items():
            sent = key if port == ours_port else None
            results.append(trio.run(run_load, "127.0.0.1", port, path, sent, clients, args.seconds))
    pair = []
    for results in runs.values():
        rps, p50, p99, errors = median_result(results)
        pair.append(Result(int(rps * args.seconds), errors, args.seconds, p50, p99))
    return pair[0], pair[1]


def execute_section(port: int, key: str, args: argparse.Namespace) -> list[str]:
    """Upload the 1-task probe, then latency and execute throughput (see execute.py)."""
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=60) as http:
        execute.upload(http, execute.ONE_TASK)
        lat = execute.latency(http, args.latency_runs)
        path, body = execute.execute_path(execute.ONE_TASK), execute.body()
        rates: dict[int, Result] = {}
        for clients in [int(c) for c in args.execute_clients.split(",")]:
            execute.settle(http)
            trio.run(run_load, "127.0.0.1", port, path, key, clients, 0.3, body, 202)
            runs = []
            for _ in range(args.repeat):
                execute.settle(http)
                load = trio.run(
                    run_load, "127.0.0.1", port, path, key, clients, args.seconds, body, 202
                )
                runs.append(load)
            rps, p50, p99, errors = median_result(runs)
            rates[clients] = Result(int(rps * args.seconds), errors, args.seconds, p50, p99)
        execute.settle(http)
    lines = [
        f"execute -> Completed, 1-task workflow, SQLite: {args.latency_runs} sequential runs",
        f"  client (POST, then GET every {execute.POLL_S * 1000:g} ms until Completed):"
        f" p50 {lat['p50']:.1f} ms  p99 {lat['p99']:.1f} ms   (goal p50 <= 50 ms)",
        f"  server (created_at -> completed_at): p50 {lat['server_p50']:.1f} ms"
        f"  p99 {lat['server_p99']:.1f} ms",
        f"POST {path}: median of {args.repeat} runs of {args.seconds:g} s"
        " (the executions run meanwhile)",
    ]
    for clients, r in rates.items():
        lines.append(
            f"  {clients:>3} clients: {r.rps:>6.0f} req/s  p50 {r.p50_ms:.2f} ms"
            f"  p99 {r.p99_ms:.2f} ms" + (f"  errors={r.errors}" if r.errors else "")
        )
    return lines


def http_section(root: Path, args: argparse.Namespace) -> list[str]:
    """Our server beside the bare ASGI ceiling; then, on the same server, executions."""
    counts = [int(c) for c in args.clients.split(",")]
    sections = args.sections.split(",")
    lines: list[str] = []
    mine: dict[tuple[str, int], Result] = {}
    ceiling: dict[tuple[str, int], Result] = {}
    with ours(root) as (port, key):
        auth = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{port}"
        list_path = next(
            p for p in LIST_PATHS if httpx.get(base + p, headers=auth).status_code == 200
        )
        bodies = {p: httpx.get(base + p, headers=auth).text for p in ("/health", list_path)}
        if "http" in sections:
            with bare(root, bodies) as bare_port:
                for p in ("/health", list_path):
                    for c in counts:
                        sent = key if p != "/health" else None
                        mine[(p, c)], ceiling[(p, c)] = measure_pair(
                            port, bare_port, p, sent, c, args
                        )
        if "execute" in sections:
            lines += execute_section(port, key, args)
    if not mine:
        return lines
    return comparison(mine, ceiling, args) + lines


def comparison(
    mine: dict[tuple[str, int], Result],
    ceiling: dict[tuple[str, int], Result],
    args: argparse.Namespace,
) -> list[str]:
    lines = [
        f"median of {args.repeat} runs of {args.seconds:g} s each, ours and bare interleaved;"
        " SQLite; loopback, keep-alive",
        f"{'route':<32} {'clients':>7} {'ours req/s':>11} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'bare req/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'ours/bare':>9}",
    ]
    for (path, c), m in mine.items():
        b = ceiling[(path, c)]
        ratio = m.rps / b.rps if b.rps else 0.0
        lines.append(
            f"{path:<32} {c:>7} {m.rps:>11.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f}"
            f" {b.rps:>11.0f} {b.p50_ms:>7.2f} {b.p99_ms:>7.2f} {ratio:>8.0%}"
            + (f"  errors={m.errors}" if m.errors else "")
        )
    lines.append("goal: the authenticated list at >= 50 % of the ceiling's requests/s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument(
        "--sections",
        default="http,execute",
        help="http, execute (comma list; '' with --scale-out runs only that)",
    )
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--execute-clients", default="1,16")
    parser.add_argument(
        "--scale-out",
        action="store_true",
        help=f"also 3 servers on one PostgreSQL (needs {PG_ENV})",
    )
    parser.add_argument("--scale-executions", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-server-") as tmp:
        root = Path(tmp)
        wanted = {"http", "execute"} & set(args.sections.split(","))
        lines = http_section(root, args) if wanted else []
        if args.scale_out:
            admin = os.environ.get(PG_ENV)
            if not admin:
                raise SystemExit(f"--scale-out needs {PG_ENV}")
            batches = scale_out(root, admin, args.scale_executions, args.repeat)
            lines += report(batches, args.scale_executions)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

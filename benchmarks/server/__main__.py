"""``python -m benchmarks.server [--seconds S] [--repeat N] [--clients 1,16,64]``.

The real ``cloacina-server`` (SQLite, temp home, default logging) beside the
ceiling: a bare hypercorn-trio ASGI app answering the same bytes in the same run.
For ``/health`` and an authenticated list (``GET /v1/tenants/public/workflows``
when that route exists, else ``GET /v1/tenants``), at each client count: the
median over repeats of requests/s, p50 and p99 latency. Goal: the authenticated
list at >= 50 % of the ceiling's requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import trio

from benchmarks.server.load import Result, run_load

BIN = Path(sys.executable).parent
LIST_PATHS = ("/v1/tenants/public/workflows", "/v1/tenants")


def _wait(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def ours(root: Path) -> Iterator[tuple[int, str]]:
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "DATABASE_URL")}
    argv = [str(BIN / "cloacina-server"), "--home", str(home), "--bind", "127.0.0.1:0"]
    argv += ["--database-url", f"sqlite:///{root / 'bench.db'}"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file = home / "server.pid"

        def address() -> str | None:
            try:
                return str(json.loads(pid_file.read_text().splitlines()[1])["address"])
            except (OSError, IndexError, KeyError, ValueError):
                return None

        _wait(lambda: address() is not None and (home / "bootstrap-key").exists(), "server")
        key = (home / "bootstrap-key").read_text().strip()
        port = int(str(address()).rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/v1/auth/whoami"
        auth = {"Authorization": f"Bearer {key}"}
        _wait(lambda: httpx.get(url, headers=auth).status_code == 200, "server ready")
        yield port, key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
        _wait(lambda: port_file.exists() and port_file.read_text().strip() != "", "bare app")
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


def measure(
    port: int, path: str, key: str | None, clients: int, args: argparse.Namespace
) -> Result:
    trio.run(run_load, "127.0.0.1", port, path, key, clients, 0.3)  # warm-up
    runs = [
        trio.run(run_load, "127.0.0.1", port, path, key, clients, args.seconds)
        for _ in range(args.repeat)
    ]
    rps, p50, p99, errors = median_result(runs)
    return Result(int(rps * args.seconds), errors, args.seconds, p50, p99)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default="1,16,64")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    rows: list[tuple[str, str, int, Result, Result]] = []
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-server-") as tmp:
        root = Path(tmp)
        with ours(root) as (port, key):
            auth = {"Authorization": f"Bearer {key}"}
            base = f"http://127.0.0.1:{port}"
            list_path = next(
                p for p in LIST_PATHS if httpx.get(base + p, headers=auth).status_code == 200
            )
            bodies = {p: httpx.get(base + p, headers=auth).text for p in ("/health", list_path)}
            mine = {
                (p, c): measure(port, p, key if p != "/health" else None, c, args)
                for p in ("/health", list_path)
                for c in counts
            }
        with bare(root, bodies) as bare_port:
            ceiling = {
                (p, c): measure(bare_port, p, None, c, args)
                for p in ("/health", list_path)
                for c in counts
            }
        for (path, c), result in mine.items():
            rows.append(("cloacina-server", path, c, result, ceiling[(path, c)]))
    print(f"median of {args.repeat} runs of {args.seconds:g} s; SQLite; loopback, keep-alive")
    print(
        f"{'route':<32} {'clients':>7} {'ours req/s':>11} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'bare req/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'ours/bare':>9}"
    )
    for _name, path, c, m, b in rows:
        ratio = m.rps / b.rps if b.rps else 0.0
        print(
            f"{path:<32} {c:>7} {m.rps:>11.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f}"
            f" {b.rps:>11.0f} {b.p50_ms:>7.2f} {b.p99_ms:>7.2f} {ratio:>8.0%}"
            + (f"  errors={m.errors}" if m.errors else "")
        )
    print("goal: the authenticated list at >= 50 % of the ceiling's requests/s")


if __name__ == "__main__":
    main()

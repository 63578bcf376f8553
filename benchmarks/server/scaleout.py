"""Three ``cloacina-server`` processes on one (brand-new) PostgreSQL database.

The 4-task ``bench_fan`` workflow (start -> left, right -> finish), uploaded to
the first server; each repeat starts ``executions`` runs round-robin over the
three servers' execute routes (6 client threads) and waits until all have
finished. Per repeat: tasks/s (tasks of the batch / wall time from the first
execute to the last completion), executes/s while submitting, each server's
share of the claims, and duplicate task bodies (each body appends
``<run>:<task>`` to a file: a line seen twice is a body that ran twice; goal 0).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from benchmarks.scratchdb import scratch_pg
from benchmarks.server.execute import FAN, TASK_COUNT, execute_path, settle, upload
from benchmarks.server.servers import ours
from cloacinactl.store import open_store
from cloacinactl.store import schema as s

SERVERS = 3


@dataclass(frozen=True)
class Batch:
    tasks_per_s: float
    executes_per_s: float
    duplicates: int
    missing: int
    claims: tuple[int, ...]  # tasks claimed by each server


def claims_by_claimant(url: str) -> Counter[str]:
    v = s.events.c
    query = (
        select(v.event_data, func.count())
        .where(v.event_type == "task_claimed")
        .group_by(v.event_data)
    )
    with open_store(url, migrate=False) as store:
        rows = store.read(lambda conn: conn.execute(query).all())
    counts: Counter[str] = Counter()
    for data, n in rows:
        counts[str(data["claimant_id"])] += int(n)
    return counts


def claimants_by_pid(url: str) -> dict[int, set[str]]:
    c = s.claimants.c
    with open_store(url, migrate=False) as store:
        rows = store.read(lambda conn: conn.execute(select(c.id, c.pid)).all())
    found: dict[int, set[str]] = {}
    for row in rows:
        found.setdefault(int(row.pid), set()).add(str(row.id))
    return found


def run_batch(clients: list[httpx.Client], n: int, log: Path) -> tuple[float, float, float]:
    """Start ``n`` executions over ``clients``, wait for all: (t0, submitted, done)."""
    prefix = uuid.uuid4().hex[:6]

    def start(i: int) -> None:
        context = {"log": str(log), "run": f"{prefix}{i}"}
        r = clients[i % len(clients)].post(execute_path(FAN), json={"context": context})
        if r.status_code != 202:
            raise SystemExit(f"execute failed: {r.status_code} {r.text}")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(start, range(n)))
    submitted = time.perf_counter()
    settle(clients[0])
    return t0, submitted, time.perf_counter()


def bodies(log: Path, n: int) -> tuple[int, int]:
    """(duplicate body runs, (run, task) pairs that never ran) in ``log``."""
    seen = Counter(log.read_text().split())
    return sum(c - 1 for c in seen.values()), n * TASK_COUNT[FAN] - len(seen)


def scale_out(root: Path, admin_url: str, executions: int, repeat: int) -> list[Batch]:
    batches: list[Batch] = []
    with scratch_pg(admin_url) as url, ExitStack() as stack:
        ports: list[int] = []
        key: str | None = None
        for i in range(SERVERS):
            port, key = stack.enter_context(
                ours(root / f"scale{i}", url, "--workers", "2", key=key)
            )
            ports.append(port)
        auth = {"Authorization": f"Bearer {key}"}
        clients = [
            stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{p}", headers=auth))
            for p in ports
        ]
        upload(clients[0], FAN)
        run_batch(clients, 6, root / "warm-up.log")  # every server loads the package
        pids = claimants_by_pid(url)
        for i in range(repeat):
            before = claims_by_claimant(url)
            log = root / f"bodies-{i}.log"
            t0, submitted, done = run_batch(clients, executions, log)
            batches.append(measured(url, pids, before, log, executions, (t0, submitted, done)))
    return batches


def measured(
    url: str,
    pids: dict[int, set[str]],
    before: Counter[str],
    log: Path,
    n: int,
    times: tuple[float, float, float],
) -> Batch:
    t0, submitted, done = times
    after = claims_by_claimant(url)
    after.subtract(before)
    shares = tuple(sum(after[c] for c in ids) for _pid, ids in sorted(pids.items()))
    duplicates, missing = bodies(log, n)
    return Batch(
        tasks_per_s=n * TASK_COUNT[FAN] / (done - t0),
        executes_per_s=n / (submitted - t0),
        duplicates=duplicates,
        missing=missing,
        claims=shares,
    )


def report(batches: list[Batch], executions: int) -> list[str]:
    med: dict[str, Any] = {
        "tasks": statistics.median(b.tasks_per_s for b in batches),
        "executes": statistics.median(b.executes_per_s for b in batches),
    }
    shares = " / ".join(
        f"{statistics.median(b.claims[i] for b in batches):.0f}" for i in range(SERVERS)
    )
    return [
        f"scale-out: {SERVERS} servers (--workers 2) on one PostgreSQL; median of"
        f" {len(batches)} batches of {executions} executions x {TASK_COUNT[FAN]} tasks",
        f"  tasks/s {med['tasks']:.0f}   executes/s while submitting {med['executes']:.0f}"
        f"   claims per server {shares}",
        f"  duplicate task bodies {sum(b.duplicates for b in batches)} (goal 0);"
        f" bodies that never ran {sum(b.missing for b in batches)}",
    ]

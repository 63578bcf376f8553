"""``python -m benchmarks.daemon [--quick] [--real-only|--components-only]``.

First the REAL daemon (see ``benchmarks/daemon/real.py``; cron lateness over 200
fires of one 1 s schedule takes 200 s; ``--quick`` uses ten 1 s schedules for 20 s
instead), then the
reconcile and scheduler parts alone (services/reconcile, engine/schedules)
on the real clock and real files, with in-process stand-ins for the loader and
the store (their own costs are measured by their own benchmarks):

- package dropped -> registered: p50/p95 with the default 500 ms debounce and 50 ms;
- cron lateness (start - scheduled) over 200 fires of one-second schedules;
- a reconcile pass in which nothing changed, with 100 packages loaded.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.engine.schedules import CronSchedule, CronScheduler, parse_cron
from cloacinactl.services.reconcile import Reconciler, ReconcileService


@dataclass(frozen=True)
class _Id:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class _Pkg:
    identity: _Id


class _Host:
    async def load(self, path: Path) -> _Pkg:
        data = json.loads(path.read_text())
        return _Pkg(_Id(data["name"], "1.0", ""))

    async def unload(self, package: _Pkg) -> None:
        return None


class _Schedules:
    def __init__(self) -> None:
        self.registered: dict[str, float] = {}

    async def register(self, package: _Pkg) -> None:
        self.registered[package.identity.name] = time.perf_counter()

    async def unregister(self, package_name: str) -> None:
        self.registered.pop(package_name, None)

    async def known_packages(self) -> set[str]:
        return set(self.registered)


class _Store:
    def __init__(self) -> None:
        self.claims: set[tuple[str, datetime]] = set()

    async def cron_cursor(self, schedule_id: str) -> datetime | None:
        return None

    async def advance_cron_cursor(self, schedule_id: str, slot: datetime) -> None:
        return None

    async def init_cursors(self, schedule_ids: list[str], now: datetime) -> dict[str, datetime]:
        return dict.fromkeys(schedule_ids, now)

    async def claim_slot(self, schedule_id: str, scheduled_time: datetime) -> bool:
        key = (schedule_id, scheduled_time)
        if key in self.claims:
            return False
        self.claims.add(key)
        return True

    async def attach_execution(self, *args: Any) -> None:
        return None

    async def lost_slots(self, claimed_before: datetime) -> list[Any]:
        return []

    async def reclaim_slot(self, *args: Any) -> bool:
        return False


class _Starter:
    def __init__(self) -> None:
        self.lateness_ms: list[float] = []

    async def start_execution(
        self, workflow: str, context: Mapping[str, Any], *, package: str
    ) -> str:
        scheduled = datetime.fromisoformat(context["scheduled_time"])
        self.lateness_ms.append((datetime.now(UTC) - scheduled).total_seconds() * 1000)
        return "x"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def show(label: str, values: list[float], unit: str = "ms") -> None:
    print(
        f"{label:<48} n={len(values):<4} p50={statistics.median(values):8.2f}{unit}"
        f"  p95={pct(values, 95):8.2f}{unit}  p99={pct(values, 99):8.2f}{unit}"
    )


async def drop_latency(debounce_s: float, drops: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedules = _Schedules()
        # As the daemon should wire it: files younger than the debounce are not read
        # by the poll fallback either (they may still be being written).
        rec = Reconciler(_Host(), schedules, settle_s=debounce_s)
        svc = ReconcileService(rec, [folder], debounce_s=debounce_s, poll_interval_s=0.5)
        out: list[float] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(svc.serve)
            for i in range(drops):
                name = f"p{i}"
                tmp_file = folder / f".{name}.tmp"
                tmp_file.write_text(json.dumps({"name": name}))
                t0 = time.perf_counter()
                os.rename(tmp_file, folder / f"{name}.cloacina")  # an atomic drop
                with trio.fail_after(10):
                    while name not in schedules.registered:
                        await trio.sleep(0.001)
                out.append((schedules.registered[name] - t0) * 1000)
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        return out


async def cron_lateness(fires: int, schedules_n: int) -> list[float]:
    starter = _Starter()
    sched = CronScheduler(_Store(), starter)
    sched.set_package(
        "bench",
        [
            CronSchedule(f"bench:{i}", "bench", str(i), "wf", parse_cron("* * * * * *"))
            for i in range(schedules_n)
        ],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sched.serve)
        with trio.fail_after(fires / schedules_n + 5):
            while len(starter.lateness_ms) < fires:
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    return starter.lateness_ms[:fires]


async def idle_reconcile(packages: int, passes: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(packages):
            p = folder / f"p{i}.cloacina"
            p.write_text(json.dumps({"name": f"p{i}", "pad": "x" * 20000}))
            os.utime(p, (time.time() - 10, time.time() - 10))
        rec = Reconciler(_Host(), _Schedules())
        first = await rec.reconcile([folder])
        assert len(first.loaded) == packages
        out = []
        for _ in range(passes):
            report = await rec.reconcile([folder])
            assert report.hashed == 0
            out.append(report.duration_s * 1000)
        return out


def real_daemon(quick: bool) -> None:
    from benchmarks.daemon import real

    print("benchmarks/daemon: the real daemon (cloacinactl daemon start, SQLite home)")
    show("drop -> registered, default debounce 500 ms", real.drop_latency(500, 10))
    show("drop -> registered, debounce 50 ms", real.drop_latency(50, 20))
    if quick:  # 20 s instead of 200 s, but ten slots due at the same instant
        created, started = real.cron_lateness(10, 200)
        label = "10 x 1 s schedules"
    else:  # the target's setting: one 1 s schedule, 200 fires (200 s of wall time)
        created, started = real.cron_lateness(1, 200)
        label = "one 1 s schedule"
    show(f"cron lateness: created - slot ({label})", created)
    show(f"cron lateness: first task start - slot ({label})", started)
    figures = real.loaded_figures(100, 10, 10.0)
    print(
        f"100 packages / 1,000 schedules: startup {figures['startup_s']:.1f}s, "
        f"RSS supervisor {figures['rss_supervisor_mib']:.1f} MiB, "
        f"total {figures['rss_total_mib']:.1f} MiB ({figures['processes']} processes), "
        f"idle CPU {figures['idle_cpu_percent']:.2f}% over 10 s "
        f"({figures['reconcile_passes']} fallback passes)"
    )
    show("reconcile with nothing changed (100 packages)", figures["reconcile_ms"])


async def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    print("benchmarks/daemon components (reconcile + schedulers; stand-in loader and store)")
    show("drop -> registered, debounce 500 ms", await drop_latency(0.5, 15))
    show("drop -> registered, debounce 50 ms", await drop_latency(0.05, 30))
    show("cron lateness, 200 fires of 1 s schedules (x20)", await cron_lateness(200, 20))
    show("reconcile with nothing changed, 100 packages", await idle_reconcile(100, 50))


if __name__ == "__main__":
    if "--components-only" not in sys.argv:
        real_daemon("--quick" in sys.argv)
    if "--real-only" not in sys.argv:
        trio.run(main)

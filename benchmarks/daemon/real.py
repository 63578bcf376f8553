"""Figures of the REAL daemon: ``cloacinactl daemon start`` in a temporary home, real
packages packed into its watch folder, observed from outside (health socket, database).

- drop -> registered: an archive renamed into the watch folder until the daemon
  reports it loaded (health socket polled every 2 ms), default debounce and 50 ms;
- cron lateness: execution created (and first task started) minus scheduled time,
  over 200 fires of one-second schedules;
- 100 packages x 10 cron schedules loaded: RSS of the daemon and its workers, idle
  CPU, and the duration of no-change reconcile passes (the poll fallback's).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from cloacinactl.packages import pack_dir

BIN = Path(sys.executable).parent


def make_package(root: Path, name: str, crons: list[str]) -> Path:
    module = name.replace("-", "_")
    folder = root / f"src-{name}"
    (folder / "workflow" / module).mkdir(parents=True)
    (folder / "package.toml").write_text(
        textwrap.dedent(
            f"""
            [package]
            name = "{name}"
            version = "1.0.0"

            [metadata]
            workflow_name = "{module}_flow"
            entry_module = "{module}.tasks"
            """
        )
    )
    (folder / "workflow" / module / "__init__.py").write_text("")
    lines = [
        "import cloaca",
        "",
        "@cloaca.task(id='work', dependencies=[])",
        "def work(context):",
        "    return context",
        "",
    ]
    for i, expr in enumerate(crons):
        lines += [
            f"@cloaca.trigger(name='t{i}', on='{module}_flow', cron={expr!r})",
            f"def t{i}():",
            "    pass",
            "",
        ]
    (folder / "workflow" / module / "tasks.py").write_text("\n".join(lines))
    return folder


def pack_into(source: Path, folder: Path, name: str) -> Path:
    tmp = folder / f".{name}.part"
    pack_dir(source, tmp)
    return tmp


def health(home: Path) -> dict[str, Any] | None:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(home / "daemon.sock"))
            body = json.loads(s.makefile().read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def wait_for(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def daemon(home: Path, config: str) -> Iterator[subprocess.Popen[bytes]]:
    (home / "packages").mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "NO_COLOR")}
    with (home.parent / "daemon.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "cloacinactl"), "--home", str(home), "daemon", "start"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
        )
    try:
        wait_for(lambda: proc.poll() is not None or health(home), 60, "the daemon")
        if proc.poll() is not None:
            raise RuntimeError((home.parent / "daemon.log").read_text()[-2000:])
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(proc.pid).children(recursive=True):
                        child.kill()
                proc.kill()
                proc.wait()


def _loaded_names(home: Path) -> set[str]:
    body = health(home) or {}
    return {p["name"] for p in body.get("reconciler", {}).get("packages", [])}


def drop_latency(debounce_ms: int, drops: int) -> list[float]:
    out: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        config = f"[daemon]\nwatcher_debounce_ms = {debounce_ms}\n"
        with daemon(home, config):
            for i in range(drops):
                name = f"drop{i}"
                part = pack_into(make_package(root, name, []), home / "packages", name)
                t0 = time.perf_counter()
                os.rename(part, home / "packages" / f"{name}.cloacina")
                wait_for(lambda n=name: n in _loaded_names(home), 30, name, step=0.002)  # type: ignore[misc]
                out.append((time.perf_counter() - t0) * 1000)
    return out


def _iso(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def cron_lateness(packages: int, fires: int) -> tuple[list[float], list[float]]:
    """(created - scheduled, first task started - scheduled) in ms for ``fires`` fires."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        for i in range(packages):
            part = pack_into(make_package(root, f"cron{i}", ["* * * * * *"]), root, f"c{i}")
            (home / "packages").mkdir(parents=True, exist_ok=True)
            os.rename(part, home / "packages" / f"cron{i}.cloacina")
        with daemon(home, "[daemon]\nwatcher_debounce_ms = 50\n"):
            db = home / "cloacina.db"

            def done() -> list[Any]:
                conn = sqlite3.connect(db, timeout=10)
                try:
                    rows = list(
                        conn.execute(
                            "SELECT input_context, created_at, started_at FROM executions"
                            " WHERE status = 'Completed' ORDER BY created_at"
                        )
                    )
                finally:
                    conn.close()
                return rows if len(rows) >= fires + packages else []

            rows = wait_for(done, fires / packages * 2 + 60, "cron fires", step=0.5)
    created, started = [], []
    for ctx, created_at, started_at in rows[packages : packages + fires]:  # skip warm-up
        slot = _iso(json.loads(ctx)["scheduled_time"])
        created.append((_iso(created_at) - slot).total_seconds() * 1000)
        if started_at:
            started.append((_iso(started_at) - slot).total_seconds() * 1000)
    return created, started


def _tree(pid: int) -> list[psutil.Process]:
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def loaded_figures(packages: int, per_package: int, idle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        (home / "packages").mkdir(parents=True)
        crons = [f"{m} 3 * * *" for m in range(per_package)]  # daily: idle during the run
        for i in range(packages):
            part = pack_into(make_package(root, f"big{i}", crons), root, f"b{i}")
            os.rename(part, home / "packages" / f"big{i}.cloacina")
        config = "[daemon]\nwatcher_debounce_ms = 50\npoll_interval_ms = 500\n"
        t0 = time.perf_counter()
        with daemon(home, config) as proc:
            startup_s = time.perf_counter() - t0
            body = health(home) or {}
            assert body["reconciler"]["packages_loaded"] == packages, body.get("errors")
            assert body["schedules"]["cron"] == packages * per_package
            time.sleep(2)  # settle
            procs = _tree(proc.pid)
            runs0 = (health(home) or {})["reconciler"]["runs"]
            # idle CPU with nobody probing (the fallback poll still runs every 500 ms)
            cpu0 = {p.pid: sum(p.cpu_times()[:2]) for p in procs}
            time.sleep(idle_s)
            cpu1 = {p.pid: sum(p.cpu_times()[:2]) for p in procs if p.is_running()}
            runs1 = (health(home) or {})["reconciler"]["runs"]
            rss = {p.pid: p.memory_info().rss for p in procs if p.is_running()}
            # then the no-change passes, read from the health socket
            durations: list[float] = []
            for _ in range(20):
                time.sleep(0.5)
                rec = (health(home) or {}).get("reconciler", {})
                if rec.get("last_duration_ms") is not None:
                    durations.append(float(rec["last_duration_ms"]))
        cpu_s = sum(cpu1[p] - cpu0.get(p, cpu1[p]) for p in cpu1)
        return {
            "startup_s": startup_s,
            "rss_supervisor_mib": rss[proc.pid] / 2**20,
            "rss_total_mib": sum(rss.values()) / 2**20,
            "processes": len(rss),
            "idle_cpu_percent": cpu_s / idle_s * 100,
            "reconcile_passes": runs1 - runs0,
            "reconcile_ms": durations,
        }

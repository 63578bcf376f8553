"""End-to-end helpers: real packages, the installed ``cloacinactl daemon start``, the
real SQLite home database, the real health socket. Every daemon started here is
killed (with its workers) by PID in the fixture's ``finally``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from cloacinactl.packages import pack_dir

BIN = Path(sys.executable).parent

FAST_CONFIG = """
[daemon]
watcher_debounce_ms = 50
poll_interval_ms = 200
trigger_poll_interval_ms = 100
shutdown_timeout_s = 10
"""


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_package(
    root: Path,
    name: str,
    *,
    version: str = "1.0.0",
    marker: str = "v1",
    cron: str | None = "* * * * * *",
    sleep_s: float = 0.0,
    poll: str | None = None,
    broken_import: bool = False,
) -> Path:
    """A package source folder: one workflow ``<name>_flow`` with a task recording
    ``marker``; optional cron trigger and poll trigger (``poll`` is the poll body)."""
    module = name.replace("-", "_")
    folder = root / f"src-{name}-{marker}"
    pkg = folder / "workflow" / module
    pkg.mkdir(parents=True, exist_ok=True)
    (folder / "package.toml").write_text(
        textwrap.dedent(
            f"""
            [package]
            name = "{name}"
            version = "{version}"

            [metadata]
            workflow_name = "{module}_flow"
            entry_module = "{module}.tasks"
            """
        )
    )
    (pkg / "__init__.py").write_text("")
    body = [
        "import time",
        "import cloaca",
        "raise RuntimeError('boom at import')" if broken_import else "",
        "",
        "@cloaca.task(id='work', dependencies=[])",
        "def work(context):",
        f"    time.sleep({sleep_s})",
        f"    context.set('marker', {marker!r})",
        "    return context",
        "",
    ]
    if cron:
        body += [
            f"@cloaca.trigger(name='tick', on='{module}_flow', cron={cron!r})",
            "def tick():",
            "    pass",
            "",
        ]
    if poll:
        body += [
            f"@cloaca.trigger(name='poller', on='{module}_flow', poll_interval='100ms')",
            "def poller():",
            textwrap.indent(textwrap.dedent(poll), "    "),
            "",
        ]
    (pkg / "tasks.py").write_text("\n".join(body))
    return folder


def drop(source: Path, folder: Path, filename: str) -> Path:
    """Pack ``source`` and move the archive into ``folder`` atomically (as a copy tool
    writing a hidden temporary file and renaming it would)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{filename}.part"
    pack_dir(source, tmp)
    target = folder / filename
    os.replace(tmp, target)
    return target


def health(home: Path) -> dict[str, Any] | None:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(3)
            s.connect(str(home / "daemon.sock"))
            data = s.makefile().read()
    except OSError:
        return None
    try:
        body = json.loads(data)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def query(home: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(str(home / "cloacina.db"), timeout=10)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def executions(home: Path, workflow: str) -> list[dict[str, Any]]:
    rows = query(
        home,
        "SELECT id, status, input_context, output_context, trigger_origin, created_at,"
        " completed_at FROM executions WHERE workflow_name = ? ORDER BY created_at",
        workflow,
    )
    out = []
    for eid, status, inp, outp, origin, created, completed in rows:
        out.append(
            {
                "id": eid,
                "status": status,
                "input": json.loads(inp) if inp else {},
                "output": json.loads(outp) if outp else None,
                "origin": origin,
                "created_at": created,
                "completed_at": completed,
            }
        )
    return out


def completed_with(home: Path, workflow: str, marker: str) -> list[dict[str, Any]]:
    return [
        e
        for e in executions(home, workflow)
        if e["status"] == "Completed" and (e["output"] or {}).get("marker") == marker
    ]


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.send_signal(sig)
        proc.send_signal(sig)


class Daemons:
    """Starts ``cloacinactl daemon start`` processes; kills all that are left at the end."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home = home
        self.log = log
        self.procs: list[subprocess.Popen[bytes]] = []
        self.orphans: list[int] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "NO_COLOR")}
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [str(BIN / "cloacinactl"), "--home", str(self.home), "daemon", "start", *extra],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=env,
            )
        self.procs.append(proc)
        wait_for(
            lambda: proc.poll() is not None or health(self.home) is not None,
            what="daemon to answer on its socket",
        )
        assert proc.poll() is None, self.log.read_text()[-3000:]
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        proc.send_signal(sig)
        return proc.wait(timeout=30)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                kill_tree(proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        # workers of a kill -9'd daemon exit on their own; any left are killed by PID
        for pid in self.orphans:
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        """kill -9 the daemon alone (its workers must notice and exit by themselves)."""
        with contextlib.suppress(psutil.Error):
            self.orphans += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        proc.kill()
        proc.wait(timeout=10)

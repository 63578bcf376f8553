"""``status --watch``: the dashboard, drawn by rich (Live on a terminal, plain when piped)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import sys
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cloacinactl.probes.watch import Watcher


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _services(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="services", title_justify="left", expand=False)
    for col in ("service", "state", "pid", "uptime", "rss", "cpu %", "workers", "detail"):
        table.add_column(col)
    for row in rows:
        body = row.get("status") or {}
        w = body.get("workers") if isinstance(body, dict) else None
        workers = None
        if isinstance(w, dict):
            workers = f"{w.get('ready', 0)}/{w.get('workers', 0)} ready, {w.get('busy', 0)} busy"
        state = row.get("state") or "-"
        style = {"running": "green", "unhealthy": "yellow"}.get(state, "red")
        table.add_row(
            row["service"],
            Text(state, style=style),
            _cell(row.get("pid")),
            _cell(row.get("uptime")),
            _cell(row.get("rss")),
            _cell(row.get("cpu_percent")),
            _cell(workers),
            _cell(row.get("detail")),
        )
    return table


def _progress(done: int, total: int, width: int = 20) -> str:
    if total <= 0:
        return "-"
    filled = round(width * done / total)
    return f"{'█' * filled}{'░' * (width - filled)} {done}/{total}"


def _database(db: dict[str, Any] | None, rows: list[dict[str, Any]]) -> list[Any]:
    if db is None:
        return [Text("daemon database: none in this home yet", style="dim")]
    if "error" in db:
        return [Text(f"daemon database: {db['error']}", style="yellow")]
    active = Table(title="active executions", title_justify="left")
    for col in ("execution", "workflow", "status", "started", "progress"):
        active.add_column(col)
    for ex in db["active"]:
        active.add_row(
            ex["id"][:12],
            ex["workflow"],
            ex["status"],
            _cell(ex["started_at"]),
            _progress(ex["done"], ex["tasks"]),
        )
    if not db["active"]:
        active.add_row("-", "none running", "", "", "")
    failures = Table(title="last failures", title_justify="left")
    for col in ("execution", "workflow", "at", "reason"):
        failures.add_column(col)
    for f in db["failures"]:
        failures.add_row(f["id"][:12], f["workflow"], _cell(f["at"]), _cell(f["reason"]))
    if not db["failures"]:
        failures.add_row("-", "none", "", "")
    schedules = Table(title="schedules due next", title_justify="left")
    for col in ("type", "workflow", "trigger", "next run"):
        schedules.add_column(col)
    for sc in db["schedules"]:
        schedules.add_row(sc["type"], sc["workflow"], _cell(sc["name"]), _cell(sc["next_run_at"]))
    daemon = next((r.get("status") for r in rows if r["service"] == "daemon"), None) or {}
    nxt = (daemon.get("schedules") or {}).get("next_cron_at")
    if not db["schedules"]:
        schedules.add_row("cron" if nxt else "-", "", "", _cell(nxt))
    return [active, failures, schedules]


def _requests(req: dict[str, Any] | None) -> Text:
    if req is None:
        return Text("server requests: no server metrics", style="dim")
    rps = "-" if req["rps"] is None else f"{req['rps']:.1f}/s"
    err = "-" if req["error_rate"] is None else f"{req['error_rate'] * 100:.1f}%"
    return Text(f"server requests: {rps}  errors: {err}  (total {int(req['total'])})")


def render(snap: dict[str, Any], interval_s: float, tty: bool) -> Group:
    stamp = dt.datetime.fromtimestamp(snap["at"]).strftime("%Y-%m-%d %H:%M:%S")
    quit_hint = "  q or Ctrl-C to leave" if tty else ""
    head = Text(f"cloacina status — {stamp} — every {interval_s:g}s{quit_hint}", style="bold")
    parts: list[Any] = [head, _services(snap["services"])]
    parts += _database(snap["database"], snap["services"])
    parts.append(_requests(snap["requests"]))
    return Group(*parts)


@contextlib.contextmanager
def _keys(tty: bool) -> Iterator[int | None]:
    """stdin in cbreak mode (single keys, no echo) for the life of the dashboard."""
    if not tty:
        yield None
        return
    import termios
    import tty as ttymod

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        ttymod.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wait(fd: int | None, seconds: float) -> bool:
    """Sleep up to ``seconds``; True when ``q`` was pressed."""
    if fd is None:
        time.sleep(seconds)
        return False
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            key = os.read(fd, 1)
            if key in (b"q", b"Q", b""):
                return True
    return False


def watch(watcher: Watcher, interval_s: float, *, no_color: bool, count: int | None) -> int:
    """Redraw in place on a terminal; one plain block per interval when piped."""
    tty = sys.stdout.isatty() and sys.stdin.isatty()
    console = Console(no_color=no_color, highlight=False, force_terminal=tty or None)
    shown = 0
    try:
        with _keys(tty) as fd:
            if tty:
                with Live(console=console, auto_refresh=False, screen=False) as live:
                    while count is None or shown < count:
                        live.update(render(watcher.snapshot(), interval_s, True), refresh=True)
                        shown += 1
                        if _wait(fd, interval_s):
                            break
            else:
                plain = Console(no_color=True, highlight=False, width=120, soft_wrap=False)
                while count is None or shown < count:
                    plain.print(render(watcher.snapshot(), interval_s, False))
                    plain.print()
                    sys.stdout.flush()
                    shown += 1
                    if count is not None and shown >= count:
                        break
                    _wait(None, interval_s)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.close()
    return 0

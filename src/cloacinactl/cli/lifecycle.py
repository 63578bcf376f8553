"""What the daemon, server and compiler nouns share: start argv, stop, status, probes.

Light at import (the verbs import the probes and the supervisor when they run).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import EXIT_OK, EXIT_TRANSPORT

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.probes.status import Where

PROBE_TIMEOUT_S = 2.0


def start_argv(ctx: Ctx, args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    """The service binary's argv: --home, -v, then each given ``args.<name>`` as its flag.

    ``None``/``False`` are left out, ``True`` is a bare flag, a list repeats the flag.
    """
    argv = ["--home", str(ctx.home.root), *(["-v"] if ctx.verbose else [])]
    for name in names:
        flag = "--" + name.replace("_", "-")
        value = getattr(args, name)
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


def status_verb(ctx: Ctx, where: Where) -> int:
    """The ``status`` verbs: probe one service where it is and render it (exit 2 if down)."""
    from cloacinactl.probes.status import service_status

    return show_status(ctx, service_status(ctx.home, where, PROBE_TIMEOUT_S))


def http_health(where: Where) -> int:
    """``server health`` / ``compiler health``: GET /health; exit 0 if up, 2 otherwise."""
    from cloacinactl.probes.status import health_ok

    return EXIT_OK if health_ok(where, PROBE_TIMEOUT_S) else EXIT_TRANSPORT


def stop_verb(ctx: Ctx, service: str, *, force: bool, timeout_s: float) -> int:
    """Shared by the three nouns."""
    from cloacinactl.supervisor.control import stop_service

    result = stop_service(ctx.home.pid_file(service), service, force=force, timeout_s=timeout_s)
    how = "killed" if result.forced else "stopped"
    print(f"{service} {how} (pid {result.pid}, {result.seconds:.2f}s)")
    return EXIT_OK


def show_status(ctx: Ctx, row: dict[str, Any]) -> int:
    """Render one service's status (table: key/value; -o json: everything); exit 2 if down."""
    from cloacinactl.errors import TransportError

    body = row.get("status") or {}
    data: dict[str, Any] = {
        "service": row["service"],
        "health": row["state"],
        "pid": row.get("pid"),
        "uptime": row.get("uptime"),
        "memory": row.get("rss"),
        "cpu_percent": row.get("cpu_percent"),
        "address": row.get("address"),
    }
    if row["service"] == "daemon":
        rec = body.get("reconciler") or {}
        data["packages_loaded"] = rec.get("packages_loaded")
        data["last_reconciliation"] = rec.get("last_run_at")
        data["active_workflows"] = body.get("active_workflows")
        data["workflows"] = len(body.get("workflows") or [])
        data["executions"] = _counts(body.get("executions"))
        data["schedules"] = _schedules(body.get("schedules"))
        data["workers"] = _workers(body.get("workers"))
        if body.get("graphs"):
            data["graphs"] = _graphs(body["graphs"])
        data["database"] = _db(body)
        data["watch_dirs"] = body.get("watch_dirs")
        if body.get("missing_watch_dirs"):
            data["missing_watch_dirs"] = body["missing_watch_dirs"]
        data.update(_errors(body.get("errors")))
    else:
        skip = {"status", "pid", "uptime_seconds", "started_at", "address", "database"}
        data["database"] = _db(body)
        data.update({k: v for k, v in body.items() if k not in skip})
    if ctx.output in ("json", "yaml"):
        data["raw"] = body or None
    if row["state"] in ("stopped", "unreachable", "error"):
        raise TransportError(f"{row['service']} is not reachable: {row.get('detail')}")
    ctx.render(data)
    return EXIT_OK


def _graphs(graphs: Any) -> str | None:
    """``graphs`` of the daemon's status → ``market running 12 fires, ticks crashed ...``."""
    items = graphs.get("items") if isinstance(graphs, dict) else None
    if not items:
        return None
    return ", ".join(
        f"{g['name']} {g['state']} {g['fires']} fires"
        + (f" ({g['failures']} failed)" if g.get("failures") else "")
        for g in items
    )


def _counts(counts: Any) -> str | None:
    """``{"Completed": 3, "Failed": 1}`` → ``Completed 3, Failed 1``."""
    if not isinstance(counts, dict) or not counts:
        return None
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def _schedules(sched: Any) -> str | None:
    if not isinstance(sched, dict):
        return None
    text = f"{sched.get('cron', 0)} cron, {sched.get('poll', 0)} poll"
    if sched.get("next_cron_at"):
        text += f"; next cron {sched['next_cron_at']}"
    return text


def _workers(workers: Any) -> str | None:
    if not isinstance(workers, dict):
        return None
    ready, total, busy = (workers.get(k, 0) for k in ("ready", "workers", "busy"))
    return f"{ready}/{total} ready, {busy} busy"


def _errors(errors: Any) -> dict[str, str | None]:
    """One row per broken package (``error: <file>`` → message); ``errors: -`` when none."""
    if not isinstance(errors, dict) or not errors:
        return {"errors": None}
    return {f"error: {Path(path).name}": str(msg) for path, msg in sorted(errors.items())}


def _db(body: dict[str, Any]) -> str | None:
    db = body.get("database")
    if not isinstance(db, dict):
        return None
    connected = db.get("connected")
    state = "" if connected is None else ("connected" if connected else "unreachable")
    return " ".join(x for x in (str(db.get("backend") or ""), state) if x) or None


def add_stop_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="Send SIGKILL instead of SIGTERM.")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="How long to wait for the process to exit (default 60).",
    )

"""``cloacinactl daemon start|stop|status|health``: the local scheduler daemon."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import EXIT_OK, EXIT_TRANSPORT

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

PROBE_TIMEOUT_S = 2.0


def start(ctx: Ctx, args: argparse.Namespace) -> int | None:
    """Run the daemon in the foreground (execs cloacina-daemon).

    Creates <home>/{packages,logs}, opens <home>/cloacina.db (SQLite, WAL), loads
    config.toml, watches the package directories and serves the health socket
    <home>/daemon.sock. SIGINT/SIGTERM drain (daemon.shutdown_timeout_s, exit
    0); a second SIGINT exits 1 at once; SIGHUP reloads config.toml.
    """
    from cloacinactl.supervisor.control import exec_service

    argv = ["--home", str(ctx.home.root), *(["-v"] if ctx.verbose else [])]
    for directory in args.watch_dir:
        argv += ["--watch-dir", directory]
    if args.poll_interval is not None:
        argv += ["--poll-interval", str(args.poll_interval)]
    exec_service("daemon", argv)
    return None


def stop(ctx: Ctx, args: argparse.Namespace) -> int:
    """Stop the daemon via its PID file: SIGTERM (SIGKILL with --force), wait for exit.

    Exit 0 when stopped; exit 2 when the PID file is missing or the process
    unreachable. A PID file naming some other process is never signalled.
    """
    return stop_verb(ctx, "daemon", force=args.force, timeout_s=args.timeout)


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """Show the daemon's health, pid, uptime, memory, CPU, packages and last reconcile.

    Reads <home>/daemon.sock. Exit 2 when the daemon is unreachable.
    """
    from cloacinactl.probes.status import service_status
    from cloacinactl.probes.where import daemon_where

    row = service_status(ctx.home, daemon_where(ctx.home), PROBE_TIMEOUT_S)
    return show_status(ctx, row)


def health(ctx: Ctx, args: argparse.Namespace) -> int:
    """Terse probe of <home>/daemon.sock: no output; exit 0 if healthy, 2 otherwise."""
    from cloacinactl.errors import TransportError
    from cloacinactl.probes.daemon import probe_daemon

    try:
        body = probe_daemon(ctx.home.daemon_socket, PROBE_TIMEOUT_S)
    except TransportError:
        return EXIT_TRANSPORT
    return EXIT_OK if body.get("status") == "healthy" else EXIT_TRANSPORT


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
        data["database"] = _db(body)
        data["watch_dirs"] = body.get("watch_dirs")
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


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive number of milliseconds, got {text!r}"
        )
    return int(text)


def register(noun: Noun) -> None:
    p = noun.verb("start", start)
    p.add_argument(
        "--watch-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="Additional package directory to watch (repeatable).",
    )
    p.add_argument(
        "--poll-interval",
        type=int,
        default=None,
        metavar="MS",
        help="Reconciler fallback poll interval in milliseconds (default 500).",
    )
    add_stop_flags(noun.verb("stop", stop))
    noun.verb("status", status)
    noun.verb("health", health)

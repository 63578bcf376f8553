"""``cloacinactl daemon start|stop|status|health``: the local scheduler daemon."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cloacinactl.cli.lifecycle import (
    PROBE_TIMEOUT_S,
    add_stop_flags,
    start_argv,
    status_verb,
    stop_verb,
)
from cloacinactl.cli.logs import add_logs_verb
from cloacinactl.errors import EXIT_OK, EXIT_TRANSPORT

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun


def start(ctx: Ctx, args: argparse.Namespace) -> int | None:
    """Run the daemon in the foreground (execs cloacina-daemon).

    Creates <home>/{packages,logs}, opens <home>/cloacina.db (SQLite, WAL), loads
    config.toml, watches the package directories and serves the health socket
    <home>/daemon.sock. SIGINT/SIGTERM drain (daemon.shutdown_timeout_s, exit
    0); a second SIGINT exits 1 at once; SIGHUP reloads config.toml.
    """
    from cloacinactl.supervisor.control import exec_service

    exec_service("daemon", start_argv(ctx, args, ("watch_dir", "poll_interval", "secrets_file")))
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
    from cloacinactl.probes.where import daemon_where

    return status_verb(ctx, daemon_where(ctx.home))


def health(ctx: Ctx, args: argparse.Namespace) -> int:
    """Terse probe of <home>/daemon.sock: no output; exit 0 if healthy, 2 otherwise."""
    from cloacinactl.errors import TransportError
    from cloacinactl.probes.daemon import probe_daemon

    try:
        body = probe_daemon(ctx.home.daemon_socket, PROBE_TIMEOUT_S)
    except TransportError:
        return EXIT_TRANSPORT
    return EXIT_OK if body.get("status") == "healthy" else EXIT_TRANSPORT


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
    p.add_argument(
        "--secrets-file",
        default=None,
        metavar="FILE",
        help="Secrets for workflows' secret slots: {name: {field: value}} as JSON or .toml, "
        "mode 0600 (default $CLOACINA_SECRETS_FILE).",
    )
    add_stop_flags(noun.verb("stop", stop))
    noun.verb("status", status)
    noun.verb("health", health)
    add_logs_verb(noun, "daemon")

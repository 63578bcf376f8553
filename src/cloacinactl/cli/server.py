"""``cloacinactl server start|stop|status|health``: the HTTP API server."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from cloacinactl.cli.lifecycle import (
    add_stop_flags,
    http_health,
    start_argv,
    status_verb,
    stop_verb,
)
from cloacinactl.cli.logs import add_logs_verb

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun
    from cloacinactl.probes.status import Where

START_FLAGS = (
    "bind",
    "database_url",
    "bootstrap_key",
    "require_signatures",
    "reconcile_interval_s",
)


def start(ctx: Ctx, args: argparse.Namespace) -> int | None:
    """Run the API server in the foreground (execs cloacina-server).

    The database URL comes from --database-url or DATABASE_URL (required); the
    bootstrap key from --bootstrap-key or CLOACINA_BOOTSTRAP_KEY; signature
    enforcement from --require-signatures or CLOACINA_REQUIRE_SIGNATURES. Other
    tuning knobs are flags of cloacina-server itself.
    """
    from cloacinactl.supervisor.control import exec_service

    exec_service("server", start_argv(ctx, args, START_FLAGS))
    return None


def stop(ctx: Ctx, args: argparse.Namespace) -> int:
    """Stop the server via server.pid: SIGTERM (SIGKILL with --force), wait for exit.

    Exit 0 when stopped; exit 2 when the PID file is missing or the process
    unreachable.
    """
    return stop_verb(ctx, "server", force=args.force, timeout_s=args.timeout)


def where(ctx: Ctx) -> Where:
    from cloacinactl.probes.where import server_where

    return server_where(ctx.home, ctx.config, ctx.server, ctx.profile)


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """Show the server's health, pid, uptime, memory, CPU and GET /v1/health/status.

    Probes --server, else the profile's URL, else the address the local server
    recorded in server.pid (default 127.0.0.1:8080). Exit 2 when unreachable.
    """
    return status_verb(ctx, where(ctx))


def health(ctx: Ctx, args: argparse.Namespace) -> int:
    """Terse GET /health: no output; exit 0 if up, 2 otherwise."""
    return http_health(where(ctx))


def register(noun: Noun) -> None:
    p = noun.verb("start", start)
    p.add_argument("--bind", metavar="ADDR", help="Listen address (default 127.0.0.1:8080).")
    p.add_argument(
        "--database-url", metavar="URL", help="Database URL (default: DATABASE_URL; required)."
    )
    p.add_argument(
        "--bootstrap-key",
        metavar="KEY",
        help="Admin key for first startup (default: CLOACINA_BOOTSTRAP_KEY or generated).",
    )
    p.add_argument(
        "--require-signatures",
        action="store_true",
        help="Enforce package signature verification at upload time.",
    )
    p.add_argument(
        "--reconcile-interval-s", type=int, metavar="N", help="Reconciler poll interval (s)."
    )
    add_stop_flags(noun.verb("stop", stop))
    noun.verb("status", status)
    noun.verb("health", health)
    add_logs_verb(noun, "server")

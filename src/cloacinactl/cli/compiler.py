"""``cloacinactl compiler start|stop|status|health``: the package build service."""

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

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun
    from cloacinactl.probes.status import Where

TUNING = ("poll_interval_ms", "heartbeat_interval_s", "stale_threshold_s", "sweep_interval_s")


def start(ctx: Ctx, args: argparse.Namespace) -> int | None:
    """Run the compiler in the foreground (execs cloacina-compiler).

    Polls the database (--database-url or DATABASE_URL) for pending builds and
    serves GET /health and GET /v1/status on --bind (default 127.0.0.1:9000).
    """
    from cloacinactl.supervisor.control import exec_service

    exec_service("compiler", start_argv(ctx, args, ("bind", "database_url", *TUNING)))
    return None


def stop(ctx: Ctx, args: argparse.Namespace) -> int:
    """Stop the compiler via compiler.pid: SIGTERM (SIGKILL with --force), wait for exit.

    Exit 0 when stopped; exit 2 when the PID file is missing or the process
    unreachable.
    """
    return stop_verb(ctx, "compiler", force=args.force, timeout_s=args.timeout)


def where(ctx: Ctx) -> Where:
    from cloacinactl.probes.where import compiler_where

    return compiler_where(ctx.home, ctx.config)


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """Show the compiler's health, pid, uptime, memory, CPU and GET /v1/status.

    Probes [compiler] local_addr (default 127.0.0.1:9000, or the address the
    local compiler recorded). Exit 2 when unreachable.
    """
    return status_verb(ctx, where(ctx))


def health(ctx: Ctx, args: argparse.Namespace) -> int:
    """Terse GET /health: no output; exit 0 if up, 2 otherwise."""
    return http_health(where(ctx))


def register(noun: Noun) -> None:
    p = noun.verb("start", start)
    p.add_argument("--bind", metavar="ADDR", help="Listen address (default 127.0.0.1:9000).")
    p.add_argument("--database-url", metavar="URL", help="Connection URL (default: DATABASE_URL).")
    p.add_argument("--poll-interval-ms", type=int, metavar="N", help="Build poll interval (ms).")
    p.add_argument("--heartbeat-interval-s", type=int, metavar="N", help="Heartbeat cadence (s).")
    p.add_argument(
        "--stale-threshold-s", type=int, metavar="N", help="Seconds before a build is stale."
    )
    p.add_argument(
        "--sweep-interval-s", type=int, metavar="N", help="Stale-claim sweep cadence (s)."
    )
    add_stop_flags(noun.verb("stop", stop))
    noun.verb("status", status)
    noun.verb("health", health)

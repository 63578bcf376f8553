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
from cloacinactl.cli.logs import add_logs_verb

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun
    from cloacinactl.probes.status import Where

TUNING = ("poll_interval_ms", "heartbeat_interval_s", "stale_threshold_s", "sweep_interval_s")


def start(ctx: Ctx, args: argparse.Namespace) -> int | None:
    """Run the compiler in the foreground (execs cloacina-compiler).

    Polls the database (--database-url or DATABASE_URL) for pending builds,
    builds one at a time (pip into vendor/, sandboxed import, deterministic
    pack, Ed25519 signature) and serves GET /health, GET /v1/status and
    GET /metrics on --bind (default 127.0.0.1:9000). A build without a
    heartbeat for --stale-threshold-s goes back to the queue (3 attempts).
    Interval flags win over [compiler] in config.toml; SIGHUP re-reads it.
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
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="Connection URL, the servers' database (default: DATABASE_URL, else"
        " database_url in config.toml).",
    )
    p.add_argument(
        "--poll-interval-ms",
        type=int,
        metavar="N",
        help="How often to poll for pending builds (default 1000; PostgreSQL also wakes on"
        " each upload).",
    )
    p.add_argument(
        "--heartbeat-interval-s",
        type=int,
        metavar="N",
        help="Heartbeat cadence of the build in flight and the compiler (default 10).",
    )
    p.add_argument(
        "--stale-threshold-s",
        type=int,
        metavar="N",
        help="Seconds without a heartbeat before a build is taken over (default 60).",
    )
    p.add_argument(
        "--sweep-interval-s",
        type=int,
        metavar="N",
        help="How often to return stale builds to the queue (default 30).",
    )
    add_stop_flags(noun.verb("stop", stop))
    noun.verb("status", status)
    noun.verb("health", health)
    add_logs_verb(noun, "compiler")

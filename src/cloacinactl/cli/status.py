"""``cloacinactl status``: the daemon, server and compiler probes at once."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun

COLUMNS = ("service", "state", "pid", "uptime", "rss", "address", "detail")


def status(ctx: Ctx, args: argparse.Namespace) -> int:
    """Probe the daemon, server and compiler concurrently and print one table.

    Each probe has its own timeout (--timeout, default 2 s) and its failure is
    shown in its own row without affecting the others. Always exits 0: use the
    `health` verbs for scriptable checks.

    --watch redraws a live dashboard every --interval (default 2s): services
    with PID, uptime, RSS, CPU and workers; the daemon's active executions with
    their progress, last failures and schedules due next; a running server's
    requests/s and error rate from its /metrics. On a terminal it redraws in
    place (q or Ctrl-C leaves); piped, it prints one plain block per interval.
    -o json stays the one-shot machine interface.
    """
    from cloacinactl.config.loader import load_config
    from cloacinactl.errors import CloacinaError
    from cloacinactl.probes.status import Where, composite_status
    from cloacinactl.probes.where import compiler_where, daemon_where, server_where

    home = ctx.home
    try:
        config = load_config(home)
        server = server_where(home, config, ctx.server, ctx.profile)
        compiler = compiler_where(home, config)
    except CloacinaError:
        # A broken config.toml must not hide the daemon: fall back to the defaults.
        server = Where("server", ctx.server or "127.0.0.1:8080")
        compiler = Where("compiler", "127.0.0.1:9000")
    wheres = [daemon_where(home), server, compiler]
    if args.watch:
        from cloacinactl.cli.dashboard import watch
        from cloacinactl.probes.watch import Watcher

        interval = parse_interval(args.interval)
        return watch(
            Watcher(home, wheres, args.timeout), interval, no_color=ctx.no_color, count=args.count
        )
    rows = composite_status(home, wheres, args.timeout)
    if ctx.output == "table":
        ctx.render([{c: row.get(c) for c in COLUMNS} for row in rows], columns=COLUMNS)
    else:
        ctx.render(rows)
    return 0


def parse_interval(text: str) -> float:
    """``2s``, ``500ms``, ``1.5`` (seconds) or a d/h/m/s duration; at least 0.1 s."""
    from cloacinactl.config.duration import parse_duration
    from cloacinactl.errors import UserError

    raw = text.strip().lower()
    try:
        seconds = float(raw[:-2]) / 1000 if raw.endswith("ms") else float(raw.rstrip("s"))
    except ValueError:
        seconds = parse_duration(raw).total_seconds()
    if not seconds >= 0.1:
        raise UserError(f"invalid --interval {text!r}: it must be at least 0.1s")
    return seconds


def register(noun: Noun) -> None:
    p = noun.run(status)
    p.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="Per-probe timeout in seconds (default 2).",
    )
    p.add_argument("--watch", action="store_true", help="Keep redrawing a live dashboard.")
    p.add_argument("--interval", default="2s", metavar="DUR", help="Redraw interval (default 2s).")
    p.add_argument(
        "--count", type=int, default=None, metavar="N", help="With --watch: stop after N redraws."
    )

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
    rows = composite_status(home, [daemon_where(home), server, compiler], args.timeout)
    if ctx.output == "table":
        ctx.render([{c: row.get(c) for c in COLUMNS} for row in rows], columns=COLUMNS)
    else:
        ctx.render(rows)
    return 0


def register(noun: Noun) -> None:
    p = noun.run(status)
    p.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="Per-probe timeout in seconds (default 2).",
    )

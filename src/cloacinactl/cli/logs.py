"""``cloacinactl daemon|server|compiler logs``: a service's JSON log, read back.

Not a noun of its own: each service noun gets the verb through
:func:`add_logs_verb`. Light at import; the reader loads when the verb runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cloacinactl.config.home import Home
from cloacinactl.errors import UserError

if TYPE_CHECKING:
    import datetime as dt

    from cloacinactl.cli.context import Ctx
    from cloacinactl.cli.framework import Noun
    from cloacinactl.supervisor.logread import LogQuery

FOLLOW_TAIL = 10  # lines of history `--follow` shows first, as tail -f and journalctl -f
POLL_S = 0.1


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """``--since``: a duration back from ``now`` (``10m``, ``1d2h``) or an ISO time."""
    import datetime as dt

    from cloacinactl.config.duration import DURATION_HINT, parse_duration

    raw = text.strip()
    if raw[:1].isdigit() and any(c in raw for c in "-:T"):
        try:
            stamp = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise UserError(
                f"invalid --since {text!r}", hint=f"an ISO time or a duration ({DURATION_HINT})"
            ) from None
        return stamp if stamp.tzinfo is not None else stamp.astimezone()
    return now - parse_duration(raw)


def build_query(args: argparse.Namespace) -> LogQuery:
    import datetime as dt

    from cloacinactl.config.logfilter import level_number
    from cloacinactl.supervisor.logread import LogQuery

    since = None if args.since is None else parse_since(args.since, dt.datetime.now().astimezone())
    return LogQuery(
        since=since,
        min_level=None if args.level is None else level_number(args.level),
        execution=args.execution,
        grep=args.grep,
    )


def formatter(output: str) -> Callable[[bytes], str]:
    """``-o json``: the stored JSON line as it is; ``table``: a line for people."""
    from cloacinactl.supervisor.logread import parse_record, render

    if output == "json":
        return lambda line: line.decode("utf-8", "replace").rstrip("\r\n")
    if output == "table":
        return lambda line: render(parse_record(line))
    raise UserError(f"logs cannot print -o {output}", hint="use -o table (default) or -o json")


def selected(lines: Iterable[bytes], query: LogQuery) -> Iterable[bytes]:
    if not query.filters:
        return lines
    from cloacinactl.supervisor.logread import parse_record

    return (line for line in lines if query.matches(parse_record(line)))


def emit(lines: Iterable[bytes], fmt: Callable[[bytes], str]) -> None:
    write = sys.stdout.write
    for line in lines:
        write(fmt(line) + "\n")
    sys.stdout.flush()


def show_logs(ctx: Ctx, service: str, args: argparse.Namespace) -> int:
    from cloacinactl.supervisor.logread import Follower, read_lines

    path = ctx.home.log_file(service)
    fmt = formatter(ctx.output)
    query = build_query(args)
    tail = args.lines if args.lines is not None else (FOLLOW_TAIL if args.follow else None)
    if tail is not None and tail < 0:
        raise UserError("--lines must be 0 or more")
    if not args.follow:
        if not path.exists() and not any(path.parent.glob(path.name + ".*")):
            raise UserError(
                f"no {service} log at {path}", hint=f"has the {service} run with this --home?"
            )
        lines: Iterable[bytes] = selected(read_lines(path, query), query)
        emit(deque(lines, maxlen=tail) if tail is not None else lines, fmt)
        return 0
    follower = Follower(path, from_start=True, skip=query.skip_file)
    try:
        emit(deque(selected(follower.available(), query), maxlen=tail), fmt)
        while True:
            new = follower.poll()
            if new:
                emit(selected(new, query), fmt)
            else:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        return 0
    finally:
        follower.close()


def add_logs_verb(noun: Noun, service: str) -> None:
    """Give a service noun its ``logs`` verb."""

    def logs(ctx: Ctx, args: argparse.Namespace) -> int:
        return show_logs(ctx, service, args)

    name = Home(Path("<home>")).log_file(service).name
    logs.__doc__ = f"""Show the {service}'s log: every rotated file, oldest first.

    Reads <home>/logs/{name} (JSON lines, rotated daily or by size) and
    prints one line per record for people, or the stored JSON lines with
    -o json. --follow keeps printing new records (after the last
    {FOLLOW_TAIL}), through rotations, until Ctrl-C. Filters combine:
    --since 10m (or an ISO time), --level warn (that level and above),
    --execution ID, --grep TEXT (a substring of the printed line).
    """
    p = noun.verb("logs", logs)
    p.add_argument("-f", "--follow", action="store_true", help="Keep printing new records.")
    p.add_argument("--since", metavar="DUR", help="Only records newer than DUR ago or an ISO time.")
    p.add_argument(
        "--level",
        choices=("trace", "debug", "info", "warn", "error"),
        type=str.lower,
        help="Only records at this level or above.",
    )
    p.add_argument("--execution", metavar="ID", help="Only records about this execution.")
    p.add_argument("--grep", metavar="TEXT", help="Only records whose line contains TEXT.")
    p.add_argument(
        "-n",
        "--lines",
        type=int,
        default=None,
        metavar="N",
        help=f"Only the last N records (default all; {FOLLOW_TAIL} with --follow).",
    )

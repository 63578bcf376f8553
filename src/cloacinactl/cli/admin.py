"""``cloacinactl admin``: administrative maintenance commands."""

from __future__ import annotations

import argparse
import os

from cloacinactl.cli.context import Ctx
from cloacinactl.cli.framework import Noun
from cloacinactl.errors import UserError


def resolve_database_url(ctx: Ctx, flag: str | None) -> str:
    """--database-url, else $DATABASE_URL, else ``database_url`` in config.toml."""
    from cloacinactl.config import pick_database_url

    url = pick_database_url(flag, os.environ) or ctx.config.database_url
    if url:
        return url
    raise UserError(
        "no database URL",
        hint="pass --database-url, set DATABASE_URL, or run "
        "'cloacinactl config set database_url sqlite:///path/to/cloacina.db'",
    )


def cleanup_events(ctx: Ctx, args: argparse.Namespace) -> int:
    """Delete execution event records older than a threshold.

    Duration format: combine d / h / m / s (e.g. 90d, 7d12h, 1d2h30m45s);
    case-insensitive; must be greater than zero; default 90d. The database URL
    comes from --database-url, else DATABASE_URL, else database_url in
    config.toml. --dry-run reports what would be deleted without deleting.
    """
    from cloacinactl.engine.cleanup import cleanup_events as run
    from cloacinactl.engine.cleanup import parse_duration

    older_than = parse_duration(args.older_than)
    url = resolve_database_url(ctx, args.database_url)
    report = run(url, older_than, dry_run=args.dry_run, tenant=ctx.tenant)
    if ctx.output == "table":
        verb = "would delete" if report.dry_run else "deleted"
        print(
            f"{verb} {report.count} event(s) older than {args.older_than} "
            f"(before {report.to_dict()['older_than']})"
        )
    else:
        ctx.render(report.to_dict())
    return 0


def register(noun: Noun) -> None:
    parser = noun.verb("cleanup-events", cleanup_events)
    parser.add_argument(
        "--older-than",
        default="90d",
        metavar="DURATION",
        help="Delete events older than this (d/h/m/s, e.g. 90d, 7d12h). Default 90d.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="Report the count without deleting anything."
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL or SQLite URL (default: DATABASE_URL, then database_url in config).",
    )

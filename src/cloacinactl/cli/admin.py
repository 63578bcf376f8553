"""``cloacinactl admin``: administrative maintenance commands."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cloacinactl.cli.context import Ctx
from cloacinactl.cli.framework import Noun
from cloacinactl.errors import UserError

if TYPE_CHECKING:
    from sqlalchemy import Connection


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


def rotate_bootstrap_key(ctx: Ctx, args: argparse.Namespace) -> int:
    """Replace the bootstrap (is_admin) key: a new one in, every old one revoked.

    Works on the server's database directly (--database-url, else DATABASE_URL,
    else database_url in config.toml), so it works while the servers run and
    even when the old key is lost. In one transaction a new is_admin key named
    "bootstrap" is stored and every other unrevoked is_admin key is revoked;
    the new key is then written to --key-file (default <home>/bootstrap-key,
    mode 0600, replacing the old file). Running servers refuse the old key
    within 5 seconds (their key cache). Tenant keys are untouched.
    """
    from cloacinactl.store import control as ctl
    from cloacinactl.store import open_store

    url = resolve_database_url(ctx, args.database_url)
    key_file: Path = args.key_file or ctx.home.bootstrap_key
    key = ctl.new_key()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = key_file.with_name(f".{key_file.name}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(key + "\n")
        os.chmod(tmp, 0o600)

        def rotate(conn: Connection) -> tuple[str, list[str]]:
            old = [k.id for k in ctl.list_keys(conn) if k.is_admin and not k.revoked]
            now = ctl.utcnow()
            row = ctl.insert_key(
                conn,
                name="bootstrap",
                key_hash=ctl.hash_key(key),
                role="admin",
                tenant="public",
                is_admin=True,
                now=now,
            )
            for key_id in old:
                ctl.revoke_key(conn, key_id, now)
            return row.id, old

        with open_store(url) as store:
            new_id, revoked = store.write(rotate, attempts=1)
        os.replace(tmp, key_file)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if ctx.output == "table":
        print(f"new bootstrap key {new_id} written to {key_file} (mode 0600)")
        print(f"revoked {len(revoked)} old admin key(s): {', '.join(revoked) or '-'}")
        print("servers refuse the old key within 5 s; tenant keys are unchanged")
    else:
        ctx.render({"id": new_id, "key_file": str(key_file), "revoked": revoked})
    return 0


def register(noun: Noun) -> None:
    rotate = noun.verb("rotate-bootstrap-key", rotate_bootstrap_key)
    rotate.add_argument(
        "--database-url",
        metavar="URL",
        help="The servers' database (default: DATABASE_URL, then database_url in config).",
    )
    rotate.add_argument(
        "--key-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="Where to write the new key (default <home>/bootstrap-key).",
    )
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

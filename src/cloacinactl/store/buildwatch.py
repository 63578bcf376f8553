"""The servers' side of the build queue: requeue, wake the compilers, read their rows.

An upload asks :func:`compiler_alive` (a live compiler builds the new package;
without one the server registers it itself) and wakes the compilers with
:func:`notify_pending`; the status route reads :func:`last_heartbeat`. The
Ed25519 public keys in ``compiler_status`` (main store) are the keys servers on
the same database trust for built archives (:func:`trusted_compiler_keys`).
The compilers' own side (claim, heartbeat, finish, their rows) is
:mod:`cloacinactl.store.builds`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, inspect, select, text, update

from cloacinactl.store import schema as s
from cloacinactl.store.builds import NOTIFY_CHANNEL, PENDING, P
from cloacinactl.store.control import compiler_status
from cloacinactl.store.fastsql import schema_of

C = compiler_status.c


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def requeue(conn: Connection, package_id: str, now: dt.datetime) -> bool:
    """Put a package back in the queue as a fresh build (attempts reset)."""
    done = conn.execute(
        update(s.packages)
        .where(P.id == package_id)
        .values(
            build_status=PENDING,
            build_error=None,
            build_attempts=0,
            build_claimed_by=None,
            build_claimed_at=None,
            build_heartbeat_at=None,
            updated_at=now,
        )
    )
    return bool(done.rowcount)


def notify_pending(conn: Connection) -> None:
    """Wake the compilers now (PostgreSQL NOTIFY, sent at commit); a no-op on SQLite."""
    if _is_pg(conn):
        conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def compiler_rows(conn: Connection) -> list[dict[str, Any]]:
    if not inspect(conn).has_table("compiler_status", schema=schema_of(conn)):
        return []
    rows = conn.execute(select(compiler_status).order_by(C.compiler_id)).all()
    return [dict(r._mapping) for r in rows]


def compiler_alive(conn: Connection, now: dt.datetime | None = None) -> bool:
    """Does a compiler heartbeat on this database (within three of its intervals)?

    The upload route's question: a live compiler builds a new package (leave
    it ``pending``); without one, the server registers it itself.
    """
    now = now or dt.datetime.now(dt.UTC)
    for row in compiler_rows(conn):
        if row["state"] == "stopped":
            continue
        if row["heartbeat_at"] >= now - dt.timedelta(seconds=3 * row["heartbeat_interval_s"]):
            return True
    return False


def trusted_compiler_keys(conn: Connection) -> list[str]:
    """The PEM public keys of every compiler that ever ran on this database."""
    return sorted({str(row["public_key"]) for row in compiler_rows(conn)})


def last_heartbeat(conn: Connection) -> dt.datetime | None:
    return max((row["heartbeat_at"] for row in compiler_rows(conn)), default=None)

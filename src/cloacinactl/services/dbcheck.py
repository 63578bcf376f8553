"""A blocking "can I reach the database" check (run it in a thread)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from cloacinactl.store.urls import DatabaseUrl


@dataclass(frozen=True)
class DbCheck:
    connected: bool
    backend: str
    error: str | None = None


def check_database(url: DatabaseUrl, timeout_s: float = 2.0) -> DbCheck:
    """Connect and run ``SELECT 1``; never raises."""
    try:
        if url.backend == "sqlite":
            assert url.sqlite_path is not None
            if not url.sqlite_path.parent.is_dir():
                return DbCheck(False, "sqlite", f"folder {url.sqlite_path.parent} does not exist")
            conn = sqlite3.connect(str(url.sqlite_path), timeout=timeout_s)
            try:
                conn.execute("SELECT 1").fetchone()
            finally:
                conn.close()
            return DbCheck(True, "sqlite")
        import psycopg

        dsn = url.original.replace("postgresql+psycopg://", "postgresql://", 1)
        if dsn.startswith("postgres://"):
            dsn = "postgresql://" + dsn[len("postgres://") :]
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout_s))) as pg:
            pg.execute("SELECT 1").fetchone()
        return DbCheck(True, "postgresql")
    except Exception as exc:  # any failure means "not reachable"; the reason is reported
        return DbCheck(
            False, url.backend, str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__
        )

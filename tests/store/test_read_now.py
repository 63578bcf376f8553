"""Store.read_now: an SQLite read in the caller's thread that never waits for a lock,
and the server's request-path read that falls back to a worker thread."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import trio
from sqlalchemy import Connection, func, select

from cloacinactl.services.server import reads
from cloacinactl.store import open_store
from cloacinactl.store import schema as s
from cloacinactl.store.db import SQLITE_BUSY_TIMEOUT_MS, WouldBlock
from cloacinactl.store.fastsql import fetch


def count_executions(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(s.executions)).scalar() or 0)


def busy_timeout(conn: Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)


def writer_holding_the_lock(path: Path) -> sqlite3.Connection:
    """Another connection in a write transaction: a statement that needs the write
    lock must wait for it (SQLite's real lock, nothing simulated)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def needs_the_lock(conn: Connection) -> int:
    conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
    return count_executions(conn)


def test_read_now_reads_on_its_own_connection(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        with pytest.raises(WouldBlock):  # its connection is not made yet: opening may wait
            store.read_now(count_executions)
        store.open_inline()
        store.open_inline()  # idempotent
        assert store.read_now(count_executions) == 0
        assert store.read_now(busy_timeout) == 0
        assert store.read(busy_timeout) == SQLITE_BUSY_TIMEOUT_MS  # the pool's are untouched
        inline = store._inline
        assert inline is not None

        def sneaky_write(conn: Connection) -> None:
            conn.exec_driver_sql("CREATE TABLE sneaky (x INTEGER)")

        store.read_now(sneaky_write)  # rolled back, never committed
        found = store.read(
            lambda c: c.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sneaky'"
            ).scalar()
        )
        assert found == 0
        with pytest.raises(ZeroDivisionError):  # the caller's error, after a rollback
            store.read_now(lambda c: 1 // 0)
        assert store.read_now(count_executions) == 0
    assert store._inline is None and inline.closed


def test_read_now_raises_would_block_instead_of_waiting(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with open_store(f"sqlite:///{path}") as store:
        store.open_inline()
        other = writer_holding_the_lock(path)
        try:
            started = time.monotonic()
            with pytest.raises(WouldBlock, match="locked"):
                store.read_now(needs_the_lock)
            with pytest.raises(WouldBlock, match="locked"):  # a read through the driver
                store.read_now(lambda c: fetch(c, "CREATE TABLE scratch2 (x INTEGER)", ()))
            assert time.monotonic() - started < 1.0  # not SQLite's 30 s busy wait
        finally:
            other.execute("COMMIT")
            other.close()
        assert store.read_now(needs_the_lock) == 0


def test_request_read_falls_back_to_a_thread_that_waits(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with open_store(f"sqlite:///{path}") as store:
        other = writer_holding_the_lock(path)

        async def main() -> int:
            async with trio.open_nursery() as nursery:

                async def release() -> None:
                    await trio.sleep(0.3)
                    other.execute("COMMIT")
                    other.close()

                nursery.start_soon(release)
                return await reads.read(store, needs_the_lock)

        assert trio.run(main) == 0  # waited on a worker thread until the lock was free
        assert store.read_now(count_executions) == 0  # and opened the in-loop connection


def test_read_now_is_refused_on_postgresql(pg_url: str) -> None:
    with open_store(pg_url) as store, pytest.raises(WouldBlock):
        store.read_now(count_executions)

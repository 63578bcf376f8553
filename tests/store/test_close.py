"""Store.close waits for a write transaction another thread is in (closing SQLite's
connection under a running statement crashes the whole process)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import Connection

from cloacinactl.store import open_store


def test_close_waits_for_the_write_in_progress(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    inside = threading.Event()
    finished: list[float] = []

    def slow_write(conn: Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
        inside.set()
        time.sleep(0.3)
        conn.exec_driver_sql("INSERT INTO scratch VALUES (1)")

    def writer() -> None:
        store.write(slow_write)
        finished.append(time.monotonic())

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(5)
    store.close()
    closed_at = time.monotonic()
    thread.join(5)
    assert finished and finished[0] <= closed_at  # the write committed first
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as again:
        rows = again.read(lambda c: c.exec_driver_sql("SELECT x FROM scratch").all())
    assert [tuple(r) for r in rows] == [(1,)]

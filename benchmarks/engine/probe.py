"""The raw-SQLite probe: two durable commits per task from Python (the physical floor
for a durable engine on this machine: mark started, mark finished)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def sqlite_probe(path: Path, tasks: int = 5000) -> float:
    """Tasks per second with two commits each (WAL, synchronous=NORMAL, like the engine)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT, ctx TEXT)")
    started = time.perf_counter()
    for i in range(tasks):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (id, state, ctx) VALUES (?, 'running', '{}')", (i,))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE t SET state = 'done', ctx = '{\"n\": 1}' WHERE id = ?", (i,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return tasks / elapsed

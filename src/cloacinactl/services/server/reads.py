"""Reads for the request path: on SQLite in the event loop's own thread when SQLite
need not wait for a lock, else (PostgreSQL, or a rare lock) on a worker thread.

A hand-off to a worker thread and back costs more than a short SQLite read itself
(a wake-up through the event loop's socket pair and two GIL switches), and it was
most of a keyed list's cost. Only short, bounded reads belong here: the loop runs
nothing else while one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio
from sqlalchemy import Connection

from cloacinactl.store import Store
from cloacinactl.store.db import WouldBlock

T = TypeVar("T")


async def read(store: Store, fn: Callable[[Connection], T]) -> T:
    """``store.read(fn)`` without a thread hand-off where SQLite allows it."""
    if store.backend != "sqlite":
        return await trio.to_thread.run_sync(store.read, fn)
    try:
        return store.read_now(fn)
    except WouldBlock:
        return await trio.to_thread.run_sync(_read_and_open, store, fn)


def _read_and_open(store: Store, fn: Callable[[Connection], T]) -> T:
    """On a worker thread: the read, and the in-loop connection for the next ones."""
    store.open_inline()
    return store.read(fn)

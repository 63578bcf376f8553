"""The Store: one connection handle per (database, tenant), SQLite or PostgreSQL.

Transactions go through :meth:`Store.write` and :meth:`Store.read`. On SQLite the
driver runs in autocommit mode and we issue ``BEGIN IMMEDIATE`` ourselves for
writers (one writer at a time, no upgrade deadlocks) and a deferred ``BEGIN`` for
readers; on PostgreSQL these are ordinary READ COMMITTED transactions, and
callers lock rows explicitly (``FOR UPDATE [SKIP LOCKED]``). Transient conflicts
(deadlock, serialization failure, ``database is locked``) are retried.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from cloacinactl.errors import UserError
from cloacinactl.store.migrations import migrate
from cloacinactl.store.urls import DatabaseUrl, check_tenant_name, parse_database_url
from cloacinactl.workflow import backoff

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_AUTOCHECKPOINT_PAGES = 20_000  # ~80 MiB of WAL
TRANSIENT_PG_CODES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock_not_available


class WouldBlock(Exception):
    """A read in the caller's thread would have had to wait for a lock."""


def _sqlite_engine(url: DatabaseUrl) -> Engine:
    assert url.sqlite_path is not None
    try:
        url.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create database folder {url.sqlite_path.parent}: {exc}") from exc
    engine = create_engine(
        url.sqlalchemy_url,
        isolation_level="AUTOCOMMIT",
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=4,
        max_overflow=8,
        pool_pre_ping=False,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
        cur.execute("PRAGMA temp_store=MEMORY")
        # Commits should not stall on checkpoints: the engine checkpoints from a
        # background thread (Store.checkpoint); this is only the safety net.
        cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cur.close()

    return engine


def _pg_engine(url: DatabaseUrl, schema_name: str, pool_size: int) -> Engine:
    engine = create_engine(
        url.sqlalchemy_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 10, "application_name": "cloacina"},
    )
    return engine.execution_options(schema_translate_map={None: schema_name})


def _is_transient(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in TRANSIENT_PG_CODES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(orig)


def _on_driver(driver: sqlite3.Connection, statement: str) -> None:
    """Run a transaction statement on the sqlite3 connection, its errors raised as
    SQLAlchemy's (a locked database is then retried like any other)."""
    try:
        driver.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


class Store:
    """A handle on one tenant's tables. Thread-safe; share one per process and tenant."""

    def __init__(self, url: DatabaseUrl, *, tenant: str = "public", pool_size: int = 5) -> None:
        self.tenant = check_tenant_name(tenant)
        self.base_url = url
        self.url = url.for_tenant(tenant)
        self.backend = url.backend
        self.schema_name = tenant if url.backend == "postgresql" else "main"
        self._writer = threading.Lock()
        self._inline: Connection | None = None  # read_now's own connection (SQLite)
        self._writer_conn: Connection | None = None  # SQLite writers' shared connection
        self._inline_lock = threading.Lock()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = _pg_engine(self.url, self.schema_name, pool_size)

    # -- lifecycle -----------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations (idempotent; safe with concurrent starters)."""
        try:
            return self.write(
                lambda conn: migrate(
                    conn, backend=self.backend, schema_name=self.schema_name, tenant=self.tenant
                )
            )
        except OperationalError as exc:
            raise UserError(
                f"cannot open database {self.url.redacted}: {exc.orig}",
                hint="check the database URL and that the server is running",
            ) from exc
        except DatabaseError as exc:
            if self.backend != "sqlite":
                raise
            # "file is not a database", "database disk image is malformed": the file
            # is left exactly as it is
            raise UserError(
                f"cannot open database {self.url.redacted}: {exc.orig}",
                hint=f"{self.url.sqlite_path} is not a usable SQLite database; move it aside"
                " to start with a new one, or restore it from a backup",
            ) from exc

    def close(self) -> None:
        # the writers' connection only between transactions: SQLite's driver crashes
        # the process when a connection is closed under a statement of another thread
        with self._writer:
            for conn in (self._inline, self._writer_conn):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
            self._inline = self._writer_conn = None
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------
    @contextmanager
    def _tx(self, write: bool) -> Iterator[Connection]:
        if self.backend != "sqlite":
            with self.engine.connect() as conn, conn.begin():
                yield conn
        elif write:
            # writers of this process queue on a lock (woken at once) instead of in
            # SQLite's busy handler, which sleeps up to 100 ms between tries, and share
            # one connection kept open (no pool checkout and return per transaction)
            with self._writer:
                yield from self._write_tx()
        else:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("BEGIN")
                try:
                    yield conn
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")

    def _write_tx(self) -> Iterator[Connection]:
        """One SQLite write transaction on the writers' connection (hold ``_writer``)."""
        conn = self._writer_conn
        if conn is None:
            conn = self.engine.connect()
            conn.detach()  # ours for the store's life, never handed to a reader
            self._writer_conn = conn
        # BEGIN and COMMIT on the driver (autocommit mode: SQLAlchemy holds no
        # transaction here), as read_now does; SQLAlchemy's statement path cost
        # more than the two statements, twice per engine cycle
        driver: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        try:
            _on_driver(driver, "BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                _on_driver(driver, "ROLLBACK")
                raise
            _on_driver(driver, "COMMIT")
        except DBAPIError:
            # a connection whose state we cannot vouch for is not used again
            self._writer_conn = None
            with contextlib.suppress(Exception):
                conn.close()
            raise

    def write(self, fn: Callable[[Connection], T], *, attempts: int = 8) -> T:
        """Run ``fn(conn)`` in one write transaction, retrying transient conflicts."""
        return self._run(fn, write=True, attempts=attempts)

    def read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in one read transaction (a consistent snapshot on SQLite)."""
        return self._run(fn, write=False, attempts=4)

    def read_now(self, fn: Callable[[Connection], T]) -> T:
        """SQLite: ``read`` that never waits for a lock (raises :class:`WouldBlock`
        instead), for a short read from a thread that must not block, like an event
        loop, and that falls back to ``read`` on a worker thread. Reads in WAL mode
        wait only in rare moments (a checkpoint restarting the log, a recovery).

        It uses one connection of its own, kept out of the pool with SQLite's busy
        timeout at 0 (so a read costs BEGIN, the queries and ROLLBACK, nothing more);
        until :meth:`open_inline` made it, this raises WouldBlock. One caller at a
        time: the thread of an event loop."""
        conn = self._inline
        if conn is None:
            raise WouldBlock("no connection for reads in this thread yet (open_inline)")
        # BEGIN and ROLLBACK on the driver: the connection is in autocommit mode, so
        # SQLAlchemy holds no transaction of its own here, and its statement path
        # cost as much as the reads of a keyed list
        driver: sqlite3.Connection = conn.connection.dbapi_connection  # type: ignore[assignment]
        try:
            driver.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if driver.in_transaction:
                    driver.execute("ROLLBACK")
        except (OperationalError, sqlite3.OperationalError) as exc:
            reason = str(exc.orig if isinstance(exc, OperationalError) else exc)
            if "locked" in reason or "busy" in reason:
                raise WouldBlock(reason) from exc
            raise

    def open_inline(self) -> None:
        """Make the connection :meth:`read_now` uses (SQLite; blocking: a worker
        thread's job, since opening may wait for a lock). Idempotent."""
        if self.backend != "sqlite" or self._inline is not None:
            return
        with self._inline_lock:
            if self._inline is not None:
                return
            conn = self.engine.connect()
            conn.detach()  # its own: never handed back to the pool with these settings
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            self._inline = conn

    def _run(self, fn: Callable[[Connection], T], *, write: bool, attempts: int) -> T:
        for attempt in range(attempts):
            try:
                with self._tx(write) as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt + 1 >= attempts or not _is_transient(exc):
                    raise
                delay = backoff.exponential(0.005, 2.0, attempt, 0.5)
                time.sleep(backoff.jittered(delay, 0.5, random.random(), 0.75))
        raise AssertionError("unreachable")

    def checkpoint(self) -> None:
        """SQLite: copy the WAL back into the database without blocking writers
        (PASSIVE), so commits on the hot path never pay for it. No-op elsewhere."""
        if self.backend != "sqlite":
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def ping(self) -> bool:
        try:
            self.read(lambda conn: conn.execute(text("SELECT 1")).scalar())
        except DBAPIError:
            return False
        return True


def open_store(
    url: str, *, tenant: str = "public", migrate: bool = True, pool_size: int = 5
) -> Store:
    """Open (and by default migrate) the store for ``url`` and ``tenant``."""
    store = Store(parse_database_url(url), tenant=tenant, pool_size=pool_size)
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store


def drop_tenant(url: str, tenant: str) -> None:
    """Remove a tenant's data: its PostgreSQL schema, or its SQLite file."""
    check_tenant_name(tenant)
    if tenant == "public":
        raise UserError("the public tenant cannot be deleted")
    parsed = parse_database_url(url)
    if parsed.backend == "sqlite":
        path = parsed.for_tenant(tenant).sqlite_path
        assert path is not None
        for suffix in ("", "-wal", "-shm"):
            candidate = path.with_name(path.name + suffix)
            if candidate.exists():
                os.unlink(candidate)
        return
    engine = create_engine(parsed.sqlalchemy_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{tenant}" CASCADE'))
    finally:
        engine.dispose()

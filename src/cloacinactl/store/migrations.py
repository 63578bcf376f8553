"""Versioned migrations, applied on start, idempotent and safe for concurrent starters.

Each migration runs inside one write transaction holding the migration lock:
PostgreSQL takes a transaction-scoped advisory lock keyed by the schema name
(DDL is transactional there); SQLite runs under ``BEGIN IMMEDIATE`` (one writer).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, inspect, select, text

from cloacinactl.store import schema
from cloacinactl.store.fastsql import schema_of


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


def _add_columns(conn: Connection, table_name: str, *columns: Column[Any]) -> None:
    """Add ``columns`` of ``table_name`` where missing (a database created by
    migration 1 after they joined the schema has them already)."""
    name = schema_of(conn)
    have = {c["name"] for c in inspect(conn).get_columns(table_name, schema=name)}
    table = f'"{name}".{table_name}' if name else table_name
    for column in columns:
        if column.name not in have:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"))


def _execution_pause(conn: Connection) -> None:
    """Executions remember when and why they were paused."""
    _add_columns(
        conn, "executions", schema.executions.c.paused_at, schema.executions.c.pause_reason
    )


def _execution_trace(conn: Connection) -> None:
    """Executions remember the traceparent of the request that started them."""
    _add_columns(conn, "executions", schema.executions.c.trace_parent)


def tenant_of(conn: Connection) -> str:
    """The tenant whose store ``conn`` migrates (``migrate`` records it on the connection)."""
    return str(conn.get_execution_options().get("cloacina_tenant", "public"))


def _control_tables(conn: Connection) -> None:
    """srvcore: the server's global tables (tenants, api_keys), in the public store only."""
    from cloacinactl.store.control import create_control_tables

    if tenant_of(conn) == "public":
        create_control_tables(conn)


def _build_queue(conn: Connection) -> None:
    """compiler: build-claim columns on packages, package_artifacts, and (main store
    only) the global compiler_status table."""
    name = schema_of(conn)
    have = {c["name"] for c in inspect(conn).get_columns("packages", schema=name)}
    table = f'"{name}".packages' if name else "packages"
    for column in schema.packages.c:
        if column.name in have:
            continue
        kind = column.type.compile(dialect=conn.dialect)
        extra = " NOT NULL DEFAULT 0" if column.name == "build_attempts" else ""
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}{extra}"))
    schema.package_artifacts.create(conn, checkfirst=True)
    for index in (*schema.packages.indexes, *schema.package_artifacts.indexes):
        index.create(conn, checkfirst=True)
    if tenant_of(conn) == "public":
        from cloacinactl.store.control import create_control_tables

        create_control_tables(conn)


def _package_archives(conn: Connection) -> None:
    """srvflow: uploaded archives stored beside their package row (every tenant)."""
    schema.package_archives.create(conn, checkfirst=True)


def _secrets(conn: Connection) -> None:
    """secrets: the tenant's wrapped data key and its sealed secrets (every tenant)."""
    for table in (schema.secret_keys, schema.secrets):
        table.create(conn, checkfirst=True)


def _graphs(conn: Connection) -> None:
    """graphs: computation-graph events, reactor cursors and fires (per tenant)."""
    for table in (schema.graph_events, schema.graph_reactors, schema.graph_fires):
        table.create(conn, checkfirst=True)


def _outputs_on_tasks(conn: Connection) -> None:
    """A Completed task's output moves from the task_outputs table onto its task row."""
    _add_columns(conn, "tasks", schema.tasks.c.output_context)
    name = schema_of(conn)
    if not inspect(conn).has_table("task_outputs", schema=name):
        return
    prefix = f'"{name}".' if name else ""
    conn.execute(
        text(
            f"UPDATE {prefix}tasks SET output_context = (SELECT o.output_context FROM "
            f"{prefix}task_outputs o WHERE o.task_id = {prefix}tasks.id) "
            f"WHERE id IN (SELECT task_id FROM {prefix}task_outputs)"
        )
    )
    conn.execute(text(f"DROP TABLE {prefix}task_outputs"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _initial),
    Migration(2, "execution pause columns", _execution_pause),
    Migration(3, "server tenants and api keys", _control_tables),
    Migration(4, "package archives", _package_archives),
    Migration(5, "tenant secrets", _secrets),
    Migration(6, "computation graphs", _graphs),
    Migration(7, "build queue (compiler)", _build_queue),
    Migration(8, "execution trace parent", _execution_trace),
    Migration(9, "task outputs on task rows", _outputs_on_tasks),
)
LATEST = MIGRATIONS[-1].version


def lock_key(schema_name: str) -> int:
    """A stable signed 64-bit advisory-lock key for one schema."""
    return zlib.crc32(f"cloacina-migrations:{schema_name}".encode()) - 2**31


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_migrations", schema=schema_of(conn)):
        return 0
    rows = conn.execute(select(schema.schema_migrations.c.version)).scalars().all()
    return max(rows, default=0)


def applied_versions(conn: Connection) -> set[int]:
    if not inspect(conn).has_table("schema_migrations", schema=schema_of(conn)):
        return set()
    return set(conn.execute(select(schema.schema_migrations.c.version)).scalars().all())


def migrate(
    conn: Connection, *, backend: str, schema_name: str, tenant: str = "public"
) -> list[int]:
    """Apply pending migrations on ``conn`` (already inside a write transaction).

    Returns the versions applied (empty when up to date).
    """
    conn.execution_options(cloacina_tenant=tenant)
    if backend == "postgresql":
        # lock first: two concurrent CREATE SCHEMA IF NOT EXISTS can still collide
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(schema_name)})
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"'))
    applied: list[int] = []
    done = applied_versions(conn)
    for migration in MIGRATIONS:
        # by set, not by the highest: numbers are handed out in blocks, so a lower one
        # may land after a higher one was applied
        if migration.version in done:
            continue
        migration.apply(conn)
        conn.execute(
            schema.schema_migrations.insert().values(
                version=migration.version,
                name=migration.name,
                applied_at=dt.datetime.now(dt.UTC),
            )
        )
        applied.append(migration.version)
    return applied

"""Hot-path statements as driver SQL: the engine writes many rows per cycle, and going
through SQLAlchemy's per-value type processing costs more than the database does.

Values are prepared here exactly as the schema's types would store them (JSON as
compact text, UTC times: aware datetimes for psycopg, SQLAlchemy's naive text form
for SQLite), so rows written either way read back identically.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import Any

from sqlalchemy import Connection

from cloacinactl.jsonfast import JsonText, compact_dumps

# no circularity check: values come from JSON or from the engine itself
_dumps = compact_dumps(ascii_only=True, check_circular=False)


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is JsonText:
        return value.text  # stored JSON, as it was stored
    return _dumps(value) if value else ("{}" if isinstance(value, dict) else _dumps(value))


def stored_json(value: dict[str, Any]) -> JsonText:
    """``value`` with the text it is stored as (encoded once: stored, and passed on as
    it is where it is a task's whole input)."""
    return JsonText(_dumps(value) if value else "{}", value)


@lru_cache(maxsize=8)
def _sqlite_text(value: dt.datetime) -> str:
    """SQLAlchemy's SQLite text for a UTC time; a cycle formats the same ``now`` for
    many rows, and strftime costs more than the cache lookup."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _per_count(method: Callable[[Sql, int], str]) -> Callable[[Sql, int], str]:
    """Memoise a statement built for ``count`` ids (a cycle asks for the same few
    sizes over and over; building the text costs more than running it)."""
    memo: dict[tuple[Sql, int], str] = {}

    def built(self: Sql, count: int) -> str:
        key = (self, count)
        text = memo.get(key)
        if text is None:
            if len(memo) > 4096:
                memo.clear()
            text = memo[key] = method(self, count)
        return text

    return built


@dataclass(frozen=True)
class Sql:
    """Driver-level statements for one backend and schema."""

    backend: str
    schema: str

    @property
    def pg(self) -> bool:
        return self.backend == "postgresql"

    def ts(self, value: dt.datetime | None) -> Any:
        if value is None or self.pg:
            return value
        return _sqlite_text(value)

    def _t(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.pg else name

    def _ph(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def table(self, name: str) -> str:
        """``name`` as this backend and schema address it."""
        return self._t(name)

    def placeholders(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's style."""
        return self._ph(sql)

    def _insert(self, table: str, cols: str, values: str) -> Batch:
        row = "(" + values + ")"
        return Batch(
            self.pg,
            self._ph(f"INSERT INTO {self._t(table)} ({cols}) VALUES {row}"),
            f"INSERT INTO {self._t(table)} ({cols}) VALUES ",
            self._ph(row),
        )

    def _update(
        self, table: str, sets: list[tuple[str, str]], key: tuple[str, str], where: str = ""
    ) -> Batch:
        """``UPDATE table SET col = ?, ... WHERE key = ?``; on PostgreSQL one statement
        per chunk: ``UPDATE ... FROM (VALUES ...) AS v`` (casts give the VALUES types)."""
        extra = f" AND {where}" if where else ""
        single = ", ".join(f"{col} = ?" for col, _ in sets)
        names = ", ".join([col for col, _ in sets] + [key[0]])
        assign = ", ".join(f"{col} = v.{col}::{cast}" for col, cast in sets)
        return Batch(
            self.pg,
            self._ph(f"UPDATE {self._t(table)} SET {single} WHERE {key[0]} = ?{extra}"),
            f"UPDATE {self._t(table)} AS x SET {assign} FROM (VALUES ",
            "(" + ", ".join(["%s"] * (len(sets) + 1)) + ")",
            f") AS v({names}) WHERE x.{key[0]} = v.{key[0]}::{key[1]}"
            + (f" AND x.{where}" if where else ""),
        )

    @cached_property
    def insert_events(self) -> Batch:
        return self._insert(
            "events",
            "execution_id, sequence_num, event_type, task_name, event_data, created_at",
            "?, ?, ?, ?, ?, ?",
        )

    @cached_property
    def set_next_seq(self) -> Batch:
        return self._update("executions", [("next_seq", "int")], ("id", "text"))

    @cached_property
    def update_task(self) -> Batch:
        return self._update(
            "tasks",
            [
                ("state", "text"),
                ("attempt", "int"),
                ("retry_at", "timestamptz"),
                ("claimant_id", "text"),
                ("reset_count", "int"),
                ("error", "text"),
                ("completed_at", "timestamptz"),
                ("output_context", "text"),
            ],
            ("id", "bigint"),
        )

    @cached_property
    def mark_ready(self) -> Batch:
        return self._update(
            "tasks",
            [("state", "text"), ("input_context", "text"), ("ready_at", "timestamptz")],
            ("id", "bigint"),
        )

    @cached_property
    def insert_task(self) -> Batch:
        return self._insert(
            "tasks",
            "execution_id, task_name, state, attempt, reset_count, input_context, ready_at, "
            "completed_at, created_at",
            "?, ?, ?, 0, 0, ?, ?, ?, ?",
        )

    @cached_property
    def insert_execution(self) -> Batch:
        return self._insert(
            "executions",
            "id, workflow_name, workflow_version, status, input_context, trigger_origin, "
            "cancel_requested, next_seq, created_at, trace_parent",
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
        )

    @cached_property
    def finish_execution(self) -> Batch:
        return self._update(
            "executions",
            [("status", "text"), ("output_context", "text"), ("completed_at", "timestamptz")],
            ("id", "text"),
        )

    @cached_property
    def start_execution(self) -> Batch:
        return self._update(
            "executions",
            [("started_at", "timestamptz")],
            ("id", "text"),
            where="status = 'Pending'",
        ).with_constant_set("status = 'Running'")

    @_per_count
    def tasks_of(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            "SELECT id, execution_id, task_name, state, attempt, claimant_id, reset_count, "
            f"error FROM {self._t('tasks')} WHERE execution_id IN ({marks})"
        )

    @_per_count
    def claim_tasks(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            f"UPDATE {self._t('tasks')} SET state = 'Running', attempt = attempt + 1, "
            "claimant_id = ?, heartbeat_at = ?, started_at = ? "
            f"WHERE id IN ({marks}) AND state = 'Ready' "
            "RETURNING id, execution_id, task_name, attempt, input_context, ready_at, retry_at"
        )

    @_per_count
    def lock_executions(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            "SELECT id, workflow_name, workflow_version, status, next_seq, input_context, "
            f"trigger_origin, created_at, started_at FROM {self._t('executions')} "
            f"WHERE id IN ({marks}) ORDER BY id" + (" FOR UPDATE" if self.pg else "")
        )

    @cached_property
    def pick_ready(self) -> str:
        lock = " FOR UPDATE OF t, e SKIP LOCKED" if self.pg else ""
        # SQLite: CROSS JOIN fixes the join order, so the scan starts from the (small,
        # partial) Ready index instead of every active execution
        join = "JOIN" if self.pg else "CROSS JOIN"
        return self._ph(
            f"SELECT t.id FROM {self._t('tasks')} t {join} {self._t('executions')} e "
            "ON t.execution_id = e.id WHERE t.state = 'Ready' "
            "AND (t.retry_at IS NULL OR t.retry_at <= ?) "
            "AND e.status IN ('Pending', 'Running') ORDER BY t.id LIMIT ?" + lock
        )

    @cached_property
    def next_retry(self) -> str:
        return self._ph(
            f"SELECT MIN(retry_at) FROM {self._t('tasks')} WHERE state = 'Ready' AND retry_at > ?"
        )

    @_per_count
    def outputs_of(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            f"SELECT execution_id, task_name, output_context FROM {self._t('tasks')} "
            f"WHERE execution_id IN ({marks}) AND state = 'Completed'"
        )


@dataclass(frozen=True)
class Batch:
    """One statement run for many rows: ``single`` with executemany (SQLite), or
    ``head + row, row, ... + tail`` as one statement per chunk (PostgreSQL)."""

    pg: bool
    single: str
    head: str
    row: str
    tail: str = ""

    def with_constant_set(self, assignment: str) -> Batch:
        """Also set a constant column (``status = 'Running'``) in both forms."""
        return Batch(
            self.pg,
            self.single.replace(" SET ", f" SET {assignment}, ", 1),
            self.head.replace(" SET ", f" SET {assignment}, ", 1),
            self.row,
            self.tail,
        )


@cache
def sql_for(backend: str, schema: str) -> Sql:
    return Sql(backend, schema)


def schema_of(conn: Connection) -> str | None:
    """The PostgreSQL schema ``conn``'s tenant lives in (None: unmapped, or SQLite)."""
    value = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    return str(value) if value is not None else None


def sql_of(conn: Connection) -> Sql:
    """The statements for ``conn``: its backend and, on PostgreSQL, its tenant's schema."""
    if conn.dialect.name != "postgresql":
        return sql_for("sqlite", "main")
    return sql_for("postgresql", schema_of(conn) or "public")


PG_MAX_PARAMS = 30_000


def parse_ts(value: Any) -> dt.datetime | None:
    """A time column as either driver reads it (text from SQLite, a datetime from
    PostgreSQL), as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def fetch(conn: Connection, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on the DBAPI cursor of ``conn``'s transaction; all rows."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, tuple(params))
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def many(conn: Connection, batch: Batch, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write ``rows`` with as few round trips as the backend allows (DBAPI cursor:
    SQLAlchemy's per-statement machinery costs more than these statements)."""
    if not rows:
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if not batch.pg:
            cursor.executemany(batch.single, list(rows))  # sqlite3 loops in C
            return
        per = max(1, PG_MAX_PARAMS // max(1, len(rows[0])))
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            statement = batch.head + ", ".join([batch.row] * len(chunk)) + batch.tail
            cursor.execute(statement, tuple(v for row in chunk for v in row))
    finally:
        cursor.close()

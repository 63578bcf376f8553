"""Hot-path statements as driver SQL: the engine writes many rows per cycle, and going
through SQLAlchemy's per-value type processing costs more than the database does.

Values are prepared here exactly as the schema's types would store them (JSON as
compact text, UTC times: aware datetimes for psycopg, SQLAlchemy's naive text form
for SQLite), so rows written either way read back identically.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    return _dumps(value) if value else ("{}" if isinstance(value, dict) else _dumps(value))


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
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def _t(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.pg else name

    def _ph(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    @property
    def insert_events(self) -> str:
        return self._ph(
            f"INSERT INTO {self._t('events')} (execution_id, sequence_num, event_type, "
            "task_name, event_data, created_at) VALUES (?, ?, ?, ?, ?, ?)"
        )

    @property
    def set_next_seq(self) -> str:
        return self._ph(f"UPDATE {self._t('executions')} SET next_seq = ? WHERE id = ?")

    @property
    def update_task(self) -> str:
        return self._ph(
            f"UPDATE {self._t('tasks')} SET state = ?, attempt = ?, retry_at = ?, "
            "claimant_id = ?, reset_count = ?, error = ?, completed_at = ? WHERE id = ?"
        )

    @property
    def mark_ready(self) -> str:
        return self._ph(
            f"UPDATE {self._t('tasks')} SET state = ?, input_context = ?, ready_at = ? WHERE id = ?"
        )

    @property
    def insert_output(self) -> str:
        return self._ph(
            f"INSERT INTO {self._t('task_outputs')} (task_id, execution_id, task_name, "
            "output_context, created_at) VALUES (?, ?, ?, ?, ?)"
        )

    @property
    def insert_task(self) -> str:
        return self._ph(
            f"INSERT INTO {self._t('tasks')} (execution_id, task_name, state, attempt, "
            "reset_count, input_context, ready_at, completed_at, created_at) "
            "VALUES (?, ?, ?, 0, 0, ?, ?, ?, ?)"
        )

    @property
    def insert_execution(self) -> str:
        return self._ph(
            f"INSERT INTO {self._t('executions')} (id, workflow_name, workflow_version, "
            "status, input_context, trigger_origin, cancel_requested, next_seq, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )

    @property
    def finish_execution(self) -> str:
        return self._ph(
            f"UPDATE {self._t('executions')} SET status = ?, output_context = ?, "
            "completed_at = ? WHERE id = ?"
        )

    @property
    def start_execution(self) -> str:
        return self._ph(
            f"UPDATE {self._t('executions')} SET status = 'Running', started_at = ? "
            "WHERE id = ? AND status = 'Pending'"
        )

    def tasks_of(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            "SELECT id, execution_id, task_name, state, attempt, claimant_id, reset_count, "
            f"error FROM {self._t('tasks')} WHERE execution_id IN ({marks})"
        )

    def claim_tasks(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            f"UPDATE {self._t('tasks')} SET state = 'Running', attempt = attempt + 1, "
            "claimant_id = ?, heartbeat_at = ?, started_at = ? "
            f"WHERE id IN ({marks}) AND state = 'Ready' "
            "RETURNING id, execution_id, task_name, attempt, input_context, ready_at, retry_at"
        )

    def parse_ts(self, value: Any) -> dt.datetime | None:
        """A time column read through the driver, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)

    def lock_executions(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            "SELECT id, workflow_name, workflow_version, status, next_seq, input_context, "
            f"trigger_origin, created_at, started_at FROM {self._t('executions')} "
            f"WHERE id IN ({marks}) ORDER BY id" + (" FOR UPDATE" if self.pg else "")
        )

    @property
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

    def outputs_of(self, count: int) -> str:
        marks = ", ".join(["?"] * count)
        return self._ph(
            f"SELECT execution_id, task_name, output_context FROM {self._t('task_outputs')} "
            f"WHERE execution_id IN ({marks})"
        )


@cache
def sql_for(backend: str, schema: str) -> Sql:
    return Sql(backend, schema)


def many(conn: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """executemany through the driver (psycopg pipelines it; sqlite3 loops in C)."""
    if rows:
        conn.exec_driver_sql(statement, list(rows))

"""The append-only event log, written in batches inside the caller's transaction.

Per-execution ``sequence_num`` comes from ``executions.next_seq``, read under
the execution's row lock (``FOR UPDATE`` on PostgreSQL; SQLite writers are
serialised by ``BEGIN IMMEDIATE``), so numbers are dense and never reused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, bindparam, select

from cloacinactl.store import schema as s


class EventType(StrEnum):
    TASK_CREATED = "task_created"
    TASK_MARKED_READY = "task_marked_ready"
    TASK_CLAIMED = "task_claimed"
    TASK_STARTED = "task_started"
    TASK_COMPLETED = "task_completed"
    TASK_FAILED = "task_failed"
    TASK_RETRY_SCHEDULED = "task_retry_scheduled"
    TASK_SKIPPED = "task_skipped"
    TASK_ABANDONED = "task_abandoned"
    TASK_RESET = "task_reset"
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    WORKFLOW_FAILED = "workflow_failed"
    WORKFLOW_CANCELLED = "workflow_cancelled"


_SET_SEQ = (
    s.executions.update()
    .where(s.executions.c.id == bindparam("eid"))
    .values(next_seq=bindparam("seq"))
)


class EventLog:
    """Collect events for executions whose rows the caller has locked; ``flush`` writes them."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._next: dict[str, int] = {}
        self._rows: list[dict[str, Any]] = []

    def track(self, execution_id: str, next_seq: int) -> None:
        """Start numbering ``execution_id``'s events from ``next_seq`` (a locked read)."""
        self._next[execution_id] = next_seq

    def tracked(self, execution_id: str) -> bool:
        return execution_id in self._next

    def add(
        self,
        execution_id: str,
        event_type: EventType,
        task_name: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        seq = self._next[execution_id]
        self._next[execution_id] = seq + 1
        self._rows.append(
            {
                "id": str(uuid.uuid4()),
                "execution_id": execution_id,
                "sequence_num": seq,
                "event_type": event_type.value,
                "task_name": task_name,
                "event_data": data or {},
                "created_at": self.now,
            }
        )

    def flush(self, conn: Connection, *, update_seq: bool = True) -> int:
        """Insert the collected events and persist each execution's next number."""
        if self._rows:
            conn.execute(s.events.insert(), self._rows)
        if update_seq and self._next:
            conn.execute(_SET_SEQ, [{"eid": k, "seq": v} for k, v in self._next.items()])
        written = len(self._rows)
        self._rows = []
        return written


def lock_executions(conn: Connection, backend: str, execution_ids: Iterable[str]) -> dict[str, Any]:
    """Lock (PostgreSQL: in id order, so lockers never deadlock) and read execution rows."""
    ids = sorted(set(execution_ids))
    if not ids:
        return {}
    stmt = select(s.executions).where(s.executions.c.id.in_(ids)).order_by(s.executions.c.id)
    if backend == "postgresql":
        stmt = stmt.with_for_update()
    return {row.id: row for row in conn.execute(stmt)}

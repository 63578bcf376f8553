"""The append-only event log, written in batches inside the caller's transaction.

Per-execution ``sequence_num`` comes from ``executions.next_seq``, read under
the execution's row lock (``FOR UPDATE`` on PostgreSQL; SQLite writers are
serialised by ``BEGIN IMMEDIATE``), so numbers are dense and never reused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Connection, delete, func, select

from cloacinactl.jsonfast import JsonText
from cloacinactl.store import schema as s
from cloacinactl.store.fastsql import Sql, dumps, fetch, many, parse_ts
from cloacinactl.values import value


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
    WORKFLOW_PAUSED = "workflow_paused"
    WORKFLOW_RESUMED = "workflow_resumed"


class EventLog:
    """Collect events for executions whose rows the caller has locked; ``flush`` writes them."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._next: dict[str, int] = {}
        self._rows: list[tuple[str, int, str, str | None, Any]] = []

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
        data: dict[str, Any] | str | None = None,
    ) -> None:
        """Queue one event; ``data`` is a dict, or its JSON text already encoded
        (:func:`encoded`; the hot path's payloads are a few fixed shapes)."""
        seq = self._next[execution_id]
        self._next[execution_id] = seq + 1
        # str(): the plain value, cheaper than Enum.value on the hot path
        self._rows.append((execution_id, seq, str(event_type), task_name, data or "{}"))

    def flush(self, conn: Connection, sql: Sql, *, update_seq: bool = True) -> int:
        """Insert the collected events and persist each execution's next number."""
        at = sql.ts(self.now)
        many(
            conn,
            sql.insert_events,
            [
                (e, n, t, k, d if d.__class__ is str else dumps(d), at)
                for e, n, t, k, d in self._rows
            ],
        )
        if update_seq:
            many(conn, sql.set_next_seq, [(v, k) for k, v in self._next.items()])
        written = len(self._rows)
        self._rows = []
        return written


@lru_cache(maxsize=256)
def encoded(key: str, value: str) -> str:
    """``{key: value}`` as event JSON (memoised: a trigger reason, one per transition
    kind, or a claimant id repeats for every event of its kind)."""
    return dumps({key: value}) or "{}"


def attempt_json(attempt: int) -> str:
    """``{"attempt": n}`` as event JSON, without the encoder."""
    return f'{{"attempt":{attempt:d}}}'


@lru_cache(maxsize=64)
def _claimed_prefix(claimant_id: str) -> str:
    return dumps({"claimant_id": claimant_id})[:-1] + ',"attempt":'  # type: ignore[index]


def claimed_json(claimant_id: str, attempt: int) -> str:
    """``{"claimant_id": c, "attempt": n}`` as event JSON (the claimant's part encoded once)."""
    return f"{_claimed_prefix(claimant_id)}{attempt:d}}}"


@value
class ExecRow:
    """The execution columns the engine needs while it holds the row lock.

    The input context and times are parsed on first use: most lockers (claims,
    outcomes of unfinished executions) never read them.
    """

    id: str
    workflow_name: str
    workflow_version: str
    status: str
    next_seq: int
    raw_input: str | None
    trigger_origin: str
    raw_created: Any
    raw_started: Any

    @cached_property
    def stored_input(self) -> Mapping[str, Any]:
        """The input context as stored, decoded only if something reads it (most
        advances never do: only a root's input, or a skipped root's, needs it)."""
        return JsonText(self.raw_input) if self.raw_input else {}

    @property
    def input_context(self) -> dict[str, Any]:
        stored = self.stored_input
        return stored.value if isinstance(stored, JsonText) else {}

    @property
    def created_at(self) -> dt.datetime | None:
        return parse_ts(self.raw_created)

    @property
    def started_at(self) -> dt.datetime | None:
        return parse_ts(self.raw_started)


def lock_executions(conn: Connection, sql: Sql, execution_ids: Iterable[str]) -> dict[str, ExecRow]:
    """Lock (PostgreSQL: in id order, so lockers never deadlock) and read execution rows."""
    ids = sorted(set(execution_ids))
    out: dict[str, ExecRow] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in fetch(conn, sql.lock_executions(len(chunk)), chunk):
            eid, name, version, status, seq, ctx, origin, created, started = row
            out[eid] = ExecRow(eid, name, version, status, seq, ctx, origin, created, started)
    return out


def count_events_older_than(conn: Connection, cutoff: dt.datetime) -> int:
    stmt = select(func.count()).select_from(s.events).where(s.events.c.created_at < cutoff)
    return int(conn.execute(stmt).scalar() or 0)


def delete_events_older_than(conn: Connection, cutoff: dt.datetime) -> int:
    return int(conn.execute(delete(s.events).where(s.events.c.created_at < cutoff)).rowcount or 0)

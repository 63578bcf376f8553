"""Reads over executions, their tasks and their events (the engine's and the API's).

One way to read an execution: the engine's ``Runner`` and the server's routes
both call these. Event ids are UUIDs derived from (execution, sequence number),
so an event keeps its id without a column of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, func, select

from cloacinactl.errors import NotFoundError
from cloacinactl.store import schema as s
from cloacinactl.workflow.model import ExecutionStatus
from cloacinactl.workflow.states import ACTIVE_STATUSES, TERMINAL_STATUSES

E = s.executions.c
T = s.tasks.c
EV = s.events.c
W = s.workflows.c

EVENT_NAMESPACE = uuid.UUID("6f1c3a52-9a3e-4c57-9d7e-2f4f3c0d6a11")
TASK_NAMESPACE = uuid.UUID("0b7a3f4e-64c1-4d8e-9d0a-5c2b8e1f7a93")
TERMINAL = TERMINAL_STATUSES


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def event_id(execution_id: str, sequence_num: int) -> str:
    """The public UUID of an event: stable, derived from its execution and number."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{execution_id}:{sequence_num}"))


def task_row_id(execution_id: str, task_name: str) -> str:
    """The public UUID of one task of one execution."""
    return str(uuid.uuid5(TASK_NAMESPACE, f"{execution_id}:{task_name}"))


def execution_status(conn: Connection, execution_id: str) -> str | None:
    return conn.execute(select(E.status).where(E.id == execution_id)).scalar()


ACTIVE = ACTIVE_STATUSES  # not finished: pending, running or paused


def count_active(conn: Connection) -> int:
    """Executions not yet finished (pending, running or paused)."""
    found = conn.execute(
        select(func.count()).select_from(s.executions).where(E.status.in_(ACTIVE))
    ).scalar()
    return int(found or 0)


def list_executions(
    conn: Connection,
    *,
    workflow: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Newest first: items ``{id, workflow_name, status, started_at, completed_at,
    trigger_origin, created_at}`` and the total count."""
    cond = []
    if workflow:
        cond.append(E.workflow_name == workflow)
    if status:
        cond.append(func.lower(E.status) == status.lower())
    where = and_(True, *cond)
    total = conn.execute(select(func.count()).select_from(s.executions).where(where)).scalar()
    rows = conn.execute(
        select(
            E.id,
            E.workflow_name,
            E.status,
            E.started_at,
            E.completed_at,
            E.trigger_origin,
            E.created_at,
        )
        .where(where)
        .order_by(E.created_at.desc(), E.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [dict(r._mapping) for r in rows], int(total or 0)


def execution_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One list row in the API's shape (``started_at`` falls back to creation)."""
    return {
        "id": row["id"],
        "workflow_name": row["workflow_name"],
        "status": row["status"],
        "started_at": _iso(row["started_at"] or row["created_at"]),
        "completed_at": _iso(row["completed_at"]),
        "trigger_origin": row["trigger_origin"],
    }


def execution_detail(conn: Connection, execution_id: str) -> dict[str, Any]:
    """One execution in the API's shape; NotFoundError if unknown."""
    row = conn.execute(select(s.executions).where(E.id == execution_id)).first()
    if row is None:
        raise NotFoundError(f"execution {execution_id} not found")
    return {
        "execution_id": row.id,
        "workflow_name": row.workflow_name,
        "workflow_version": row.workflow_version,
        "status": row.status,
        "trigger_origin": row.trigger_origin,
        "input_context": row.input_context,
        "output_context": row.output_context,
        "error": row.error,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "completed_at": _iso(row.completed_at),
        "paused_at": _iso(row.paused_at),
        "pause_reason": row.pause_reason,
    }


def list_events(
    conn: Connection,
    execution_id: str,
    *,
    since: dt.datetime | None = None,
    after_seq: int | None = None,
) -> list[dict[str, Any]]:
    """Events of one execution in sequence order: ``{id, event_type, event_data,
    task_name, created_at, sequence_num}``; NotFoundError for an unknown execution.
    ``since`` keeps events created at or after it, ``after_seq`` those numbered after."""
    if execution_status(conn, execution_id) is None:
        raise NotFoundError(f"execution {execution_id} not found")
    stmt = select(EV.event_type, EV.event_data, EV.task_name, EV.created_at, EV.sequence_num).where(
        EV.execution_id == execution_id
    )
    if since is not None:
        stmt = stmt.where(EV.created_at >= since)
    if after_seq is not None:
        stmt = stmt.where(EV.sequence_num > after_seq)
    return [
        {"id": event_id(execution_id, r.sequence_num), **r._mapping}
        for r in conn.execute(stmt.order_by(EV.sequence_num))
    ]


def events_after(
    conn: Connection, execution_id: str, after_seq: int | None
) -> tuple[str | None, list[dict[str, Any]]]:
    """The execution's status (None when unknown) and its events numbered after
    ``after_seq``, in order. The status is read first, so when it is terminal the
    events include the last one (they are written in the same transaction)."""
    status = execution_status(conn, execution_id)
    if status is None:
        return None, []
    return status, list_events(conn, execution_id, after_seq=after_seq)


def api_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event row in the API's shape: ``event_data`` is JSON text (or null)."""
    data = event["event_data"]
    return {
        "id": event["id"],
        "event_type": event["event_type"],
        "event_data": None if data is None else json.dumps(data, separators=(",", ":")),
        "task_name": event["task_name"],
        "created_at": _iso(event["created_at"]),
        "sequence_num": int(event["sequence_num"]),
    }


def _max_attempts(conn: Connection, name: str, version: str) -> dict[str, int]:
    definition = conn.execute(
        select(W.definition).where(and_(W.name == name, W.version == version))
    ).scalar()
    out: dict[str, int] = {}
    for task in (definition or {}).get("tasks", []):
        retry = task.get("retry") or {}
        out[str(task["id"])] = int(retry.get("max_attempts", 1))
    return out


def execution_tasks(conn: Connection, execution_id: str) -> list[dict[str, Any]]:
    """Per task of one execution: state, attempts, timings, last error (API shape)."""
    ex = conn.execute(
        select(E.workflow_name, E.workflow_version).where(E.id == execution_id)
    ).first()
    if ex is None:
        raise NotFoundError(f"execution {execution_id} not found")
    limits = _max_attempts(conn, ex.workflow_name, ex.workflow_version)
    rows = conn.execute(
        select(
            T.task_name,
            T.state,
            T.attempt,
            T.error,
            T.created_at,
            T.started_at,
            T.completed_at,
            T.ready_at,
            T.retry_at,
        )
        .where(T.execution_id == execution_id)
        .order_by(T.id)
    ).all()
    out = []
    for r in rows:
        updated = r.completed_at or r.started_at or r.ready_at or r.created_at
        out.append(
            {
                "id": task_row_id(execution_id, r.task_name),
                "task_name": r.task_name,
                "status": r.state,
                "attempt": int(r.attempt),
                "max_attempts": limits.get(r.task_name, max(1, int(r.attempt))),
                "created_at": _iso(r.created_at),
                "updated_at": _iso(updated),
                "started_at": _iso(r.started_at),
                "completed_at": _iso(r.completed_at),
                "last_error": r.error,
                "error_details": None,
                "sub_status": (
                    "retry_scheduled" if r.state == "Ready" and r.retry_at is not None else None
                ),
            }
        )
    return out


@dataclass(frozen=True)
class TaskResult:
    name: str
    state: str
    attempt: int
    error: str | None
    reset_count: int = 0


@dataclass(frozen=True)
class ExecutionResult:
    """What ``Runner.execute`` returns: status, output context and per-task states."""

    execution_id: str
    workflow: str
    workflow_version: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any] | None
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    trigger_origin: str = "manual"
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    pause_reason: str | None = None

    @property
    def is_terminal(self) -> bool:
        return ExecutionStatus(self.status).is_terminal

    @property
    def ok(self) -> bool:
        return self.status == ExecutionStatus.COMPLETED.value

    @property
    def task_states(self) -> dict[str, str]:
        return {name: t.state for name, t in self.tasks.items()}

    def to_dict(self) -> dict[str, Any]:
        def iso(value: dt.datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value else None

        return {
            "execution_id": self.execution_id,
            "workflow_name": self.workflow,
            "workflow_version": self.workflow_version,
            "status": self.status,
            "input_context": self.input,
            "output_context": self.output,
            "trigger_origin": self.trigger_origin,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "paused_at": iso(self.paused_at),
            "pause_reason": self.pause_reason,
            "tasks": [
                {"task_name": t.name, "state": t.state, "attempt": t.attempt, "error": t.error}
                for t in self.tasks.values()
            ],
        }


def execution_result(conn: Connection, execution_id: str) -> ExecutionResult:
    row = conn.execute(select(s.executions).where(E.id == execution_id)).first()
    if row is None:
        raise NotFoundError(f"execution {execution_id} not found")
    tasks = conn.execute(
        select(T.task_name, T.state, T.attempt, T.error, T.reset_count)
        .where(T.execution_id == execution_id)
        .order_by(T.id)
    ).all()
    return ExecutionResult(
        execution_id=row.id,
        workflow=row.workflow_name,
        workflow_version=row.workflow_version,
        status=row.status,
        input=row.input_context,
        output=row.output_context,
        tasks={
            t.task_name: TaskResult(t.task_name, t.state, t.attempt, t.error, t.reset_count)
            for t in tasks
        },
        trigger_origin=row.trigger_origin,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        paused_at=row.paused_at,
        pause_reason=row.pause_reason,
    )

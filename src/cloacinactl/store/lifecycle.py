"""Changing an execution's status: lock it, cancel it, pause it (and the helpers the
engine's resume uses). Each records its events in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, select, update

from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.store import schema as s
from cloacinactl.store.events import EventLog, EventType, ExecRow, lock_executions
from cloacinactl.store.fastsql import Sql
from cloacinactl.workflow.model import ExecutionStatus, TaskState

E = s.executions.c
T = s.tasks.c


def lock_execution(
    conn: Connection, sql: Sql, execution_id: str, verb: str | None = None
) -> ExecRow:
    """Lock and read one execution; with ``verb``, refuse (UserError) a terminal one."""
    ex = lock_executions(conn, sql, [execution_id]).get(execution_id)
    if ex is None:
        raise NotFoundError(f"execution {execution_id} not found")
    if verb is not None and ExecutionStatus(ex.status).is_terminal:
        raise UserError(
            f"cannot {verb} execution {execution_id}: it is {ex.status}",
            hint="only a Pending, Running or Paused execution can be paused or resumed",
        )
    return ex


def event_log_for(ex: ExecRow, now: dt.datetime) -> EventLog:
    log = EventLog(now)
    log.track(ex.id, ex.next_seq)
    return log


def set_execution(
    conn: Connection,
    log: EventLog,
    execution_id: str,
    event: EventType,
    data: dict[str, Any],
    **values: Any,
) -> None:
    """Record ``event`` and update the (locked) execution row; the caller flushes."""
    log.add(execution_id, event, None, data)
    conn.execute(update(s.executions).where(E.id == execution_id).values(**values))


def cancel_execution(conn: Connection, sql: Sql, execution_id: str, now: dt.datetime) -> bool:
    """Cancel an active (or paused) execution: tasks not yet running are Skipped, running
    ones finish but start nothing new. False when it was already terminal."""
    ex = lock_execution(conn, sql, execution_id)
    if ExecutionStatus(ex.status).is_terminal:
        return False
    log = event_log_for(ex, now)
    pending = conn.execute(
        select(T.id, T.task_name)
        .where(
            and_(
                T.execution_id == execution_id,
                T.state.in_([TaskState.NOT_STARTED.value, TaskState.READY.value]),
            )
        )
        .order_by(T.id)
    ).all()
    if pending:
        conn.execute(
            update(s.tasks)
            .where(T.id.in_([p.id for p in pending]))
            .values(state=TaskState.SKIPPED.value, completed_at=now, claimant_id=None)
        )
    for p in pending:
        log.add(execution_id, EventType.TASK_SKIPPED, p.task_name, {"reason": "cancelled"})
    set_execution(
        conn,
        log,
        execution_id,
        EventType.WORKFLOW_CANCELLED,
        {"skipped": len(pending)},
        status=ExecutionStatus.CANCELLED.value,
        cancel_requested=True,
        completed_at=now,
    )
    log.flush(conn, sql)
    return True


def pause_execution(
    conn: Connection, sql: Sql, execution_id: str, now: dt.datetime, reason: str | None = None
) -> bool:
    """Pause a Pending or Running execution. Tasks already Running finish and their
    outcomes are recorded, but no task of it is claimed, by any engine, until it is
    resumed (claims only take tasks of Pending/Running executions). False when it is
    already Paused; UserError when it is over."""
    ex = lock_execution(conn, sql, execution_id, "pause")
    if ex.status == ExecutionStatus.PAUSED.value:
        return False
    log = event_log_for(ex, now)
    set_execution(
        conn,
        log,
        execution_id,
        EventType.WORKFLOW_PAUSED,
        {"reason": reason, "from": ex.status},
        status=ExecutionStatus.PAUSED.value,
        paused_at=now,
        pause_reason=reason,
    )
    log.flush(conn, sql)
    return True

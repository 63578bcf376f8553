"""Reads over executions, tasks and events; cancel, pause and resume (for the Runner and
the API)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, func, select, update

from cloacinactl.engine.events import EventLog, EventType, ExecRow, lock_executions
from cloacinactl.engine.fastsql import Sql
from cloacinactl.engine.model import ExecutionStatus, TaskState
from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.store import schema as s

# the reads live in the store; re-exported for the engine's callers
from cloacinactl.store.executions import EVENT_NAMESPACE as EVENT_NAMESPACE
from cloacinactl.store.executions import event_id as event_id
from cloacinactl.store.executions import execution_status as execution_status
from cloacinactl.store.executions import list_events as list_events
from cloacinactl.store.executions import list_executions as list_executions

if TYPE_CHECKING:
    from cloacinactl.engine.ops import CycleResult
    from cloacinactl.engine.registry import DefCache

E = s.executions.c
T = s.tasks.c
EV = s.events.c


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


def _lock(conn: Connection, sql: Sql, execution_id: str, verb: str | None = None) -> ExecRow:
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


def _log_for(ex: ExecRow, now: dt.datetime) -> EventLog:
    log = EventLog(now)
    log.track(ex.id, ex.next_seq)
    return log


def _set_execution(
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
    ex = _lock(conn, sql, execution_id)
    if ExecutionStatus(ex.status).is_terminal:
        return False
    log = _log_for(ex, now)
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
    _set_execution(
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
    ex = _lock(conn, sql, execution_id, "pause")
    if ex.status == ExecutionStatus.PAUSED.value:
        return False
    log = _log_for(ex, now)
    _set_execution(
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


def resume_execution(
    conn: Connection, sql: Sql, defs: DefCache, execution_id: str, now: dt.datetime
) -> CycleResult | None:
    """Resume a Paused execution: back to Running, or to Pending when no task of it was
    ever claimed (its first claim then starts it as usual). Outcomes recorded while it
    was paused did not advance it, so its DAG advances here: dependents become Ready (or
    Skipped), and when every task is terminal it finishes in this transaction. Returns
    what advanced (``finished`` names it if it finished); None when it was not Paused;
    UserError when it is over."""
    from cloacinactl.engine import ops  # (ops imports this module)

    ex = _lock(conn, sql, execution_id, "resume")
    if ex.status != ExecutionStatus.PAUSED.value:
        return None
    status = ExecutionStatus.RUNNING if ex.started_at is not None else ExecutionStatus.PENDING
    log = _log_for(ex, now)
    _set_execution(
        conn,
        log,
        execution_id,
        EventType.WORKFLOW_RESUMED,
        {"status": status.value},
        status=status.value,
        paused_at=None,
        pause_reason=None,
    )
    result = ops.CycleResult()
    tasks = ops.load_tasks(conn, sql, [execution_id])
    execs = {execution_id: replace(ex, status=status.value)}
    ops.advance(conn, sql, {execution_id}, execs, tasks, {}, defs, log, now, result)
    log.flush(conn, sql)
    return result


def count_events_older_than(conn: Connection, cutoff: dt.datetime) -> int:
    stmt = select(func.count()).select_from(s.events).where(EV.created_at < cutoff)
    return int(conn.execute(stmt).scalar() or 0)


def delete_events_older_than(conn: Connection, cutoff: dt.datetime) -> int:
    return int(conn.execute(delete(s.events).where(EV.created_at < cutoff)).rowcount or 0)

"""What ``status --watch`` shows from a database: active executions, failures, schedules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from cloacinactl.store import schema as s
from cloacinactl.workflow.cron import next_run
from cloacinactl.workflow.states import ACTIVE_STATUSES

E = s.executions
T = s.tasks
S = s.schedules
ACTIVE = ACTIVE_STATUSES


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def active_executions(conn: Connection, limit: int = 8) -> list[dict[str, Any]]:
    """Unfinished executions, oldest first, with how many of their tasks are done."""
    done = func.sum(case((T.c.state.in_(("Completed", "Skipped", "Failed")), 1), else_=0))
    rows = conn.execute(
        select(E.c.id, E.c.workflow_name, E.c.status, E.c.started_at, E.c.created_at)
        .add_columns(func.count(T.c.id).label("tasks"), done.label("done"))
        .select_from(E.outerjoin(T, T.c.execution_id == E.c.id))
        .where(E.c.status.in_(ACTIVE))
        .group_by(E.c.id, E.c.workflow_name, E.c.status, E.c.started_at, E.c.created_at)
        .order_by(E.c.created_at, E.c.id)
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "workflow": r.workflow_name,
            "status": r.status,
            "started_at": _iso(r.started_at or r.created_at),
            "tasks": int(r.tasks or 0),
            "done": int(r.done or 0),
        }
        for r in rows
    ]


def recent_failures(conn: Connection, limit: int = 5) -> list[dict[str, Any]]:
    """The newest failed executions with their reason."""
    rows = conn.execute(
        select(E.c.id, E.c.workflow_name, E.c.error, E.c.completed_at, E.c.created_at)
        .where(E.c.status == "Failed")
        .order_by(func.coalesce(E.c.completed_at, E.c.created_at).desc(), E.c.id)
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "workflow": r.workflow_name,
            "at": _iso(r.completed_at or r.created_at),
            "reason": (r.error or "").splitlines()[0][:200] if r.error else None,
        }
        for r in rows
    ]


def next_schedules(
    conn: Connection, limit: int = 5, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Enabled, unpaused schedules that are due next (cron: their next slot)."""
    now = now or dt.datetime.now(dt.UTC)
    rows = conn.execute(
        select(
            S.c.schedule_type,
            S.c.workflow_name,
            S.c.trigger_name,
            S.c.cron_expression,
            S.c.timezone,
            S.c.cron_cursor,
            S.c.next_run_at,
        ).where(and_(S.c.enabled.is_(True), S.c.paused.is_(False)))
    ).all()
    due = []
    for r in rows:
        at = r.next_run_at or next_run(r.cron_expression, r.timezone, now, r.cron_cursor)
        if at is not None:
            due.append((at, r))
    due.sort(key=lambda item: (item[0], item[1].workflow_name))
    return [
        {
            "type": r.schedule_type,
            "workflow": r.workflow_name,
            "name": r.trigger_name or r.cron_expression,
            "next_run_at": _iso(at),
        }
        for at, r in due[:limit]
    ]


def dashboard(conn: Connection) -> dict[str, Any]:
    return {
        "active": active_executions(conn),
        "failures": recent_failures(conn),
        "schedules": next_schedules(conn),
    }

"""The API's view of schedules (cron and poll triggers): list, get, pause, resume.

A schedule is addressed by its trigger name or by the workflow it starts. Its
recent executions are the executions of that workflow whose context names it
(cron runs carry ``schedule_id``, poll and manual fires ``trigger_name``).
Resuming a cron schedule moves its cursor to now: slots that fell while it was
paused are skipped, not caught up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from cloacinactl.store import schema as s
from cloacinactl.store.workflows import iso
from cloacinactl.workflow.cron import next_run

S = s.schedules.c
E = s.executions.c
RECENT_SCAN = 200


def next_run_at(row: Any, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the schedule fires next: the stored time when there is one, else a cron
    schedule's next slot; None while it is paused or disabled."""
    if not row.enabled or row.paused:
        return None
    if row.next_run_at is not None or row.schedule_type != "cron":
        return row.next_run_at  # type: ignore[no-any-return]
    return next_run(
        row.cron_expression, row.timezone, now or dt.datetime.now(dt.UTC), row.cron_cursor
    )


def trigger_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "schedule_type": row.schedule_type,
        "workflow_name": row.workflow_name,
        "enabled": bool(row.enabled),
        "cron_expression": row.cron_expression,
        "trigger_name": row.trigger_name,
        "poll_interval_ms": row.poll_interval_ms,
        "next_run_at": iso(next_run_at(row)),
        "last_run_at": iso(row.last_run_at),
        "created_at": iso(row.created_at),
        "paused": bool(row.paused),
    }


def list_triggers(
    conn: Connection, *, limit: int = 100, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(s.schedules)).scalar()
    rows = conn.execute(
        select(s.schedules)
        .order_by(S.workflow_name, S.trigger_name, S.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [trigger_summary(r) for r in rows], int(total or 0)


def find_trigger(conn: Connection, name: str) -> Any | None:
    """The schedule named ``name`` (trigger name first, then workflow name, or id)."""
    rows = conn.execute(
        select(s.schedules).where(
            or_(S.trigger_name == name, S.workflow_name == name, S.id == name)
        )
    ).all()
    for key in ("trigger_name", "workflow_name", "id"):
        for row in rows:
            if getattr(row, key) == name:
                return row
    return None


def trigger_subscribers(conn: Connection, name: str) -> list[Any]:
    """The enabled schedules a fire of trigger ``name`` starts, one per workflow: every
    workflow subscribed under that trigger name; when no trigger has that name, the one
    schedule ``find_trigger`` addresses (by workflow name or id)."""
    rows = list(
        conn.execute(
            select(s.schedules)
            .where(S.trigger_name == name, S.enabled.is_(True))
            .order_by(S.workflow_name, S.schedule_type)
        ).all()
    )
    if not rows:
        row = find_trigger(conn, name)
        rows = [row] if row is not None and row.enabled else []
    one_each: dict[str, Any] = {}
    for row in rows:
        one_each.setdefault(row.workflow_name, row)
    return list(one_each.values())


def recent_executions(conn: Connection, schedule: Any, limit: int = 10) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(E.id, E.input_context, E.created_at, E.started_at, E.completed_at)
        .where(E.workflow_name == schedule.workflow_name)
        .order_by(E.created_at.desc())
        .limit(RECENT_SCAN)
    ).all()
    out: list[dict[str, Any]] = []
    for r in rows:
        ctx = r.input_context if isinstance(r.input_context, dict) else {}
        if ctx.get("schedule_id") != schedule.id and ctx.get("trigger_name") != (
            schedule.trigger_name
        ):
            continue
        scheduled = ctx.get("scheduled_time")
        out.append(
            {
                "id": r.id,
                "scheduled_time": scheduled if isinstance(scheduled, str) else None,
                "started_at": iso(r.started_at or r.created_at),
                "completed_at": iso(r.completed_at),
            }
        )
        if len(out) >= limit:
            break
    return out


def trigger_detail(conn: Connection, schedule: Any) -> dict[str, Any]:
    summary = trigger_summary(schedule)
    info = {
        k: summary[k]
        for k in (
            "id",
            "schedule_type",
            "workflow_name",
            "enabled",
            "cron_expression",
            "trigger_name",
            "poll_interval_ms",
            "paused",
        )
    }
    info["next_run_at"] = summary["next_run_at"]
    info["last_run_at"] = summary["last_run_at"]
    return {"schedule": info, "recent_executions": recent_executions(conn, schedule)}


def set_trigger_paused(conn: Connection, schedule_id: str, paused: bool, now: dt.datetime) -> None:
    values: dict[str, Any] = {"paused": paused}
    if not paused:
        # skip the slots that fell while paused (only ever moves forwards)
        current = conn.execute(select(S.cron_cursor).where(S.id == schedule_id)).scalar()
        if current is None or current < now:
            values["cron_cursor"] = now
    conn.execute(update(s.schedules).where(S.id == schedule_id).values(**values))


def paused_schedule_ids(conn: Connection) -> set[str]:
    return set(conn.execute(select(S.id).where(S.paused.is_(True))).scalars())

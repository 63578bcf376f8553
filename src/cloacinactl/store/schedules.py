"""The schedules registry: cron and poll-trigger rows owned by a package.

Schedule rows belong to a package and disappear with it
(:func:`replace_package_schedules`, :func:`remove_schedules_not_owned`); their cron
slots live in ``cron_fires`` (see :mod:`cloacinactl.store.cronslots`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update

from cloacinactl.store import schema as s

S = s.schedules.c
F = s.cron_fires.c


@dataclass(frozen=True)
class ScheduleSpec:
    """A cron schedule or poll trigger declared by a package."""

    schedule_type: str  # "cron" | "trigger"
    workflow_name: str
    trigger_name: str
    cron_expression: str | None = None
    timezone: str = "UTC"
    poll_interval_ms: int | None = None
    allow_concurrent: bool = False
    config: dict[str, Any] | None = None


def replace_package_schedules(
    conn: Connection, package_id: str | None, specs: Sequence[ScheduleSpec], now: dt.datetime
) -> dict[str, str]:
    """Make ``package_id``'s schedules exactly ``specs``; returns {trigger_name: schedule id}.

    Ids are stable per (type, workflow, trigger name), so cron cursors and fired slots
    survive a package reload; schedules the package no longer declares are deleted.
    """
    ids: dict[str, str] = {}
    keep: list[str] = []
    for spec in specs:
        row = conn.execute(
            select(S.id).where(
                and_(
                    S.schedule_type == spec.schedule_type,
                    S.workflow_name == spec.workflow_name,
                    S.trigger_name == spec.trigger_name,
                )
            )
        ).first()
        values = {
            "package_id": package_id,
            "cron_expression": spec.cron_expression,
            "timezone": spec.timezone,
            "poll_interval_ms": spec.poll_interval_ms,
            "allow_concurrent": spec.allow_concurrent,
            "config": spec.config,
            "enabled": True,
        }
        if row is None:
            sid = str(uuid.uuid4())
            conn.execute(
                s.schedules.insert().values(
                    id=sid,
                    schedule_type=spec.schedule_type,
                    workflow_name=spec.workflow_name,
                    trigger_name=spec.trigger_name,
                    created_at=now,
                    paused=False,
                    **values,
                )
            )
        else:
            sid = row.id
            conn.execute(update(s.schedules).where(S.id == sid).values(**values))
        ids[spec.trigger_name] = sid
        keep.append(sid)
    owner = S.package_id.is_(None) if package_id is None else S.package_id == package_id
    gone = select(S.id).where(and_(owner, S.id.not_in(keep))) if keep else select(S.id).where(owner)
    stale = list(conn.execute(gone).scalars())
    if stale:
        conn.execute(delete(s.cron_fires).where(F.schedule_id.in_(stale)))
        conn.execute(delete(s.schedules).where(S.id.in_(stale)))
    return ids


def remove_schedules_not_owned(conn: Connection, live_packages: Sequence[str]) -> int:
    """Delete schedules whose package is no longer loaded (cleanup after downtime)."""
    stale = list(
        conn.execute(
            select(S.id).where(
                and_(S.package_id.is_not(None), S.package_id.not_in(list(live_packages)))
            )
        ).scalars()
    )
    if stale:
        conn.execute(delete(s.cron_fires).where(F.schedule_id.in_(stale)))
        conn.execute(delete(s.schedules).where(S.id.in_(stale)))
    return len(stale)


def list_schedules(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(s.schedules).order_by(S.workflow_name, S.trigger_name))
    return [dict(r._mapping) for r in rows]

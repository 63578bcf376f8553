"""Recovery of tasks whose claimant died (design §9).

A claimant (:mod:`cloacinactl.store.claimants`) is dead when its heartbeat is
stale, or when it ran on this host and its process is gone (so a restart after
``kill -9`` recovers at once instead of waiting out the stale threshold).
Running tasks of dead claimants, and Running tasks nobody owns whose heartbeat
is stale, get a ``reset`` verdict (applied as any outcome is).
"""

from __future__ import annotations

import datetime as dt

import psutil
from sqlalchemy import Connection

from cloacinactl.engine.ops import Outcome
from cloacinactl.store.claimants import Identity, orphaned_rows, other_claimants


def process_alive(pid: int, started_at: dt.datetime | None) -> bool:
    """Is ``pid`` running and (when known) the same process that started at ``started_at``?"""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except psutil.Error:
        return False
    if started_at is None:
        return True
    return abs(created - started_at.timestamp()) < 1.0


def dead_claimants(
    conn: Connection, me: Identity, now: dt.datetime, stale_after: dt.timedelta
) -> list[str]:
    dead: list[str] = []
    for row in other_claimants(conn, me):
        stale = row.heartbeat_at < now - stale_after
        local_gone = row.hostname == me.hostname and not process_alive(
            row.pid, row.process_started_at
        )
        if stale or local_gone:
            dead.append(row.id)
    return dead


def orphaned_tasks(
    conn: Connection, me: Identity, now: dt.datetime, stale_after: dt.timedelta
) -> tuple[list[Outcome], list[str]]:
    """Reset verdicts for Running tasks whose claimant is dead or unknown and stale."""
    dead = dead_claimants(conn, me, now, stale_after)
    verdicts = [
        Outcome(r.id, r.execution_id, r.task_name, r.attempt, "reset", claimant_id=r.claimant_id)
        for r in orphaned_rows(conn, dead, now, stale_after)
    ]
    return verdicts, dead

"""Claimants, heartbeats and recovery of tasks whose claimant died (design §9).

Every engine process registers a claimant row (id, host, pid, process start
time) and refreshes its heartbeat, and the heartbeats of the tasks it runs, on
a timer. A claimant is dead when its heartbeat is stale, or when it ran on this
host and its process is gone (so a restart after ``kill -9`` recovers at once
instead of waiting out the stale threshold). Running tasks of dead claimants,
and Running tasks nobody owns whose heartbeat is stale, are reset.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass

import psutil
from sqlalchemy import Connection, and_, delete, or_, select, update

from cloacinactl.engine.model import TaskState
from cloacinactl.engine.ops import Outcome
from cloacinactl.store import schema as s

C = s.claimants.c
T = s.tasks.c


@dataclass(frozen=True)
class Identity:
    """Who this engine process is, as recorded in the claimants table."""

    claimant_id: str
    hostname: str
    pid: int
    process_started_at: dt.datetime | None

    @classmethod
    def current(cls, claimant_id: str) -> Identity:
        pid = os.getpid()
        try:
            started = dt.datetime.fromtimestamp(psutil.Process(pid).create_time(), dt.UTC)
        except psutil.Error:
            started = None
        return cls(claimant_id, socket.gethostname(), pid, started)


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


def register_claimant(conn: Connection, me: Identity, now: dt.datetime) -> None:
    conn.execute(delete(s.claimants).where(C.id == me.claimant_id))
    conn.execute(
        s.claimants.insert().values(
            id=me.claimant_id,
            hostname=me.hostname,
            pid=me.pid,
            process_started_at=me.process_started_at,
            started_at=now,
            heartbeat_at=now,
        )
    )


def unregister_claimant(conn: Connection, claimant_id: str) -> None:
    conn.execute(delete(s.claimants).where(C.id == claimant_id))


def heartbeat(conn: Connection, claimant_id: str, now: dt.datetime) -> None:
    conn.execute(update(s.claimants).where(C.id == claimant_id).values(heartbeat_at=now))
    conn.execute(
        update(s.tasks)
        .where(and_(T.claimant_id == claimant_id, T.state == TaskState.RUNNING.value))
        .values(heartbeat_at=now)
    )


def dead_claimants(
    conn: Connection, me: Identity, now: dt.datetime, stale_after: dt.timedelta
) -> list[str]:
    dead: list[str] = []
    for row in conn.execute(select(s.claimants).where(C.id != me.claimant_id)):
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
    known = select(C.id)
    rows = conn.execute(
        select(T.id, T.execution_id, T.task_name, T.attempt, T.claimant_id).where(
            and_(
                T.state == TaskState.RUNNING.value,
                or_(
                    T.claimant_id.in_(dead) if dead else False,
                    and_(
                        or_(T.claimant_id.is_(None), T.claimant_id.not_in(known)),
                        T.heartbeat_at < now - stale_after,
                    ),
                ),
            )
        )
    ).all()
    verdicts = [
        Outcome(r.id, r.execution_id, r.task_name, r.attempt, "reset", claimant_id=r.claimant_id)
        for r in rows
    ]
    return verdicts, dead


def forget_claimants(conn: Connection, ids: list[str]) -> None:
    if ids:
        conn.execute(delete(s.claimants).where(C.id.in_(ids)))

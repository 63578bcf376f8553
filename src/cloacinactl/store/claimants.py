"""The claimants table: every engine process registers itself (id, host, pid, process
start time) and refreshes its heartbeat, and the heartbeats of the tasks it runs.
Deciding who is dead, and what to do with their tasks, is the engine's
(:mod:`cloacinactl.engine.recovery`)."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import Connection, and_, delete, or_, select, update

from cloacinactl.store import schema as s
from cloacinactl.workflow.model import TaskState

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


def other_claimants(conn: Connection, me: Identity) -> Sequence[Any]:
    """Every claimant row but ``me``'s."""
    return conn.execute(select(s.claimants).where(C.id != me.claimant_id)).all()


def orphaned_rows(
    conn: Connection, dead: list[str], now: dt.datetime, stale_after: dt.timedelta
) -> Sequence[Any]:
    """Running tasks of the ``dead`` claimants, and Running tasks nobody known owns
    whose heartbeat is older than ``stale_after``."""
    known = select(C.id)
    return conn.execute(
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


def forget_claimants(conn: Connection, ids: list[str]) -> None:
    if ids:
        conn.execute(delete(s.claimants).where(C.id.in_(ids)))

"""Claims: atomically take due Ready tasks for this engine (design §1, §9).

PostgreSQL: ``SELECT … FOR UPDATE OF task, execution SKIP LOCKED`` then an UPDATE
with RETURNING; SQLite: the same inside the writer's ``BEGIN IMMEDIATE``. The
claim, its ``task_claimed``/``task_started`` events and the execution's Pending →
Running step commit together, before any task is handed to a worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from cloacinactl.jsonfast import JsonText
from cloacinactl.store.events import (
    EventLog,
    EventType,
    ExecRow,
    attempt_json,
    claimed_json,
    lock_executions,
)
from cloacinactl.store.fastsql import Sql, fetch, many, parse_ts
from cloacinactl.store.registry import DefCache, Registered
from cloacinactl.values import value
from cloacinactl.workflow.model import ExecutionStatus

PENDING = ExecutionStatus.PENDING.value


@value
class Claimed:
    task_pk: int
    execution_id: str
    task_name: str
    attempt: int
    context: Mapping[str, Any]  # as stored (JsonText): passed on to the worker undecoded
    registered: Registered
    ready_raw: Any  # when it became due, as the driver read it (parsed on demand)

    @property
    def ready_at(self) -> dt.datetime | None:
        """When the task became due (Ready, or its retry time): for latency figures,
        so it is parsed only when asked for."""
        return parse_ts(self.ready_raw)


def claim(
    conn: Connection,
    sql: Sql,
    claimant_id: str,
    defs: DefCache,
    now: dt.datetime,
    limit: int,
    *,
    log: EventLog | None = None,
    locked: dict[str, ExecRow] | None = None,
) -> list[Claimed]:
    """Atomically take up to ``limit`` due Ready tasks (SKIP LOCKED on PostgreSQL).

    ``log``/``locked``: the cycle's event log and the execution rows it already
    locked in this transaction (they are not locked or read again); without a
    ``log`` the events are written here.
    """
    rows = _take(conn, sql, claimant_id, now, limit)
    if not rows:
        return []
    known = locked or {}
    execs = {eid: known[eid] for eid in {r[1] for r in rows} if eid in known}
    fresh = lock_executions(conn, sql, (r[1] for r in rows if r[1] not in known))
    execs.update(fresh)
    own_log = log is None
    if log is None:
        log = EventLog(now)
    started = _start_executions(sql, execs, now, log)
    claimed: list[Claimed] = []
    add = log.add
    regs: dict[str, Registered] = {}
    for pk, eid, name, attempt, context, since in rows:
        reg = regs.get(eid)
        if reg is None:
            ex = execs[eid]
            reg = regs[eid] = defs.get(conn, ex.workflow_name, ex.workflow_version)
        add(eid, EventType.TASK_CLAIMED, name, claimed_json(claimant_id, attempt))
        add(eid, EventType.TASK_STARTED, name, attempt_json(attempt))
        claimed.append(Claimed(pk, eid, name, attempt, context, reg, since))
    many(conn, sql.start_execution, started)
    if own_log:
        log.flush(conn, sql)
    return claimed


def _take(
    conn: Connection, sql: Sql, claimant_id: str, now: dt.datetime, limit: int
) -> list[tuple[int, str, str, int, Mapping[str, Any], Any]]:
    """Pick and claim up to ``limit`` due Ready tasks; their (id, execution id, name,
    attempt, input context, ready-since) in id order."""
    # PostgreSQL: lock the task AND its execution without waiting; a claim never blocks
    # on a row another engine holds, so claims cannot join a deadlock cycle
    ids = [r[0] for r in fetch(conn, sql.pick_ready, (sql.ts(now), limit))]
    if not ids:
        return []
    at = sql.ts(now)
    rows = [
        (
            pk,
            eid,
            name,
            attempt,
            JsonText(ctx) if ctx else {},
            retry_at if retry_at is not None else ready_at,
        )
        for pk, eid, name, attempt, ctx, ready_at, retry_at in fetch(
            conn, sql.claim_tasks(len(ids)), (claimant_id, at, at, *ids)
        )
    ]
    rows.sort(key=lambda r: r[0])
    return rows


def _start_executions(
    sql: Sql, execs: dict[str, ExecRow], now: dt.datetime, log: EventLog
) -> list[tuple[Any, ...]]:
    """Track the executions in ``log``; the Pending ones start: their rows and events."""
    started: list[tuple[Any, ...]] = []
    for eid, ex in execs.items():
        if not log.tracked(eid):  # (executions created this cycle are tracked already)
            log.track(eid, ex.next_seq)
        if ex.status == PENDING:
            started.append((sql.ts(now), eid))
            log.add(
                eid,
                EventType.WORKFLOW_STARTED,
                None,
                {"workflow": ex.workflow_name, "version": ex.workflow_version},
            )
    return started

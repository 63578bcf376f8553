"""The engine's database transactions (synchronous; the executor runs them on a thread).

Every state change is committed, with its event, before anyone acts on it.
One :func:`cycle` transaction does as much as it can at once: start new
executions, record finished attempts, advance the DAGs, and claim the next
batch of Ready tasks, so the hot path pays one commit per batch, not per task.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from cloacinactl.engine.advance import CycleResult, advance
from cloacinactl.store import schema as s
from cloacinactl.store.claims import claim
from cloacinactl.store.events import EventLog, EventType, ExecRow, encoded, lock_executions
from cloacinactl.store.fastsql import Sql, dumps, fetch, many, parse_ts, stored_json
from cloacinactl.store.registry import DefCache, Registered
from cloacinactl.store.tasks import load_tasks
from cloacinactl.values import value
from cloacinactl.workflow import transitions
from cloacinactl.workflow.model import ExecutionStatus, TaskState
from cloacinactl.workflow.outcomes import Rules, TaskChange, TaskSnapshot, Verdict, apply_outcome

T = s.tasks.c
E = s.executions.c
NOT_STARTED = TaskState.NOT_STARTED.value
READY = TaskState.READY.value
CANCELLED = ExecutionStatus.CANCELLED.value


@value
class NewExecution:
    id: str
    registered: Registered
    context: dict[str, Any]
    origin: str = "manual"
    trace_parent: str | None = None  # W3C traceparent of the request that started it


@value
class Outcome:
    """A finished attempt (``completed``/``failed``) or a recovery verdict (``reset``)."""

    task_pk: int
    execution_id: str
    task_name: str
    attempt: int
    kind: str
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    claimant_id: str | None = None
    captured: dict[str, Any] | None = None


@dataclass(frozen=True)
class Settings:
    max_resets: int = 3


# ---------------------------------------------------------------- creation
def create_executions(
    conn: Connection,
    sql: Sql,
    items: Sequence[NewExecution],
    now: dt.datetime,
    log: EventLog | None = None,
) -> None:
    """Insert executions (Pending), their tasks, and the first Ready/Skipped transitions
    (events go to ``log`` when given, else they are written here)."""
    if not items:
        return
    own_log = log is None
    if log is None:
        log = EventLog(now)
    at = sql.ts(now)
    exec_rows: list[tuple[Any, ...]] = []
    task_rows: list[tuple[Any, ...]] = []
    for item in items:
        wf = item.registered.workflow
        log.track(item.id, 1)
        first = {t.task_id: t for t in transitions.initial_transitions(wf, item.context)}
        text = dumps(item.context)
        for task in wf.tasks:
            log.add(item.id, EventType.TASK_CREATED, task.id)
            tr = first.get(task.id)
            if tr is None:
                task_rows.append((item.id, task.id, NOT_STARTED, None, None, None, at))
            elif tr.to is TaskState.READY:
                # a root's input is the execution's: encoded once for both rows
                ready = text if tr.context is item.context else dumps(tr.context)
                task_rows.append((item.id, task.id, READY, ready, at, None, at))
                log.add(item.id, EventType.TASK_MARKED_READY, task.id, encoded("reason", tr.reason))
            else:
                task_rows.append((item.id, task.id, tr.to.value, None, None, at, at))
                log.add(item.id, EventType.TASK_SKIPPED, task.id, encoded("reason", tr.reason))
        exec_rows.append(
            (
                item.id,
                wf.name,
                wf.version,
                ExecutionStatus.PENDING.value,
                text,
                item.origin,
                False,
                1,
                at,
                item.trace_parent,
            )
        )
    many(conn, sql.insert_execution, exec_rows)
    many(conn, sql.insert_task, task_rows)
    if own_log:
        log.flush(conn, sql)


# ---------------------------------------------------------------- the cycle
def cycle(
    conn: Connection,
    *,
    sql: Sql,
    claimant_id: str,
    defs: DefCache,
    now: dt.datetime,
    create: Sequence[NewExecution] = (),
    outcomes: Sequence[Outcome] = (),
    claim_limit: int = 0,
    settings: Settings = Settings(),
    rng: random.Random | None = None,
) -> CycleResult:
    """One write transaction: create, apply outcomes, advance, then claim (all events
    in one batch at the end)."""
    result = CycleResult()
    log = EventLog(now)
    create_executions(conn, sql, create, now, log)
    locked: dict[str, ExecRow] = {}
    if outcomes:
        locked = apply_outcomes(conn, sql, outcomes, defs, now, settings, rng, result, log)
    if claim_limit > 0:
        result.claimed = claim(
            conn, sql, claimant_id, defs, now, claim_limit, log=log, locked=locked
        )
    log.flush(conn, sql)
    if claim_limit > 0 and len(result.claimed) < claim_limit:
        # caught up: when is the next retry due?
        rows = fetch(conn, sql.next_retry, (sql.ts(now),))
        result.next_due = parse_ts(rows[0][0]) if rows else None
    return result


_EVENTS = {
    Verdict.COMPLETED: EventType.TASK_COMPLETED,
    Verdict.RETRY: EventType.TASK_RETRY_SCHEDULED,
    Verdict.FAILED: EventType.TASK_FAILED,
    Verdict.ABANDONED: EventType.TASK_ABANDONED,
    Verdict.RESET: EventType.TASK_RESET,
}


def apply_outcomes(
    conn: Connection,
    sql: Sql,
    outcomes: Sequence[Outcome],
    defs: DefCache,
    now: dt.datetime,
    settings: Settings,
    rng: random.Random | None,
    result: CycleResult,
    log: EventLog | None = None,
) -> dict[str, ExecRow]:
    """Record finished attempts / recovery verdicts and advance their executions;
    returns the execution rows locked (events go to ``log``, else written here)."""
    execs = lock_executions(conn, sql, (o.execution_id for o in outcomes))
    tasks = load_tasks(conn, sql, execs)
    own_log = log is None
    if log is None:
        log = EventLog(now)
    for eid, row in execs.items():
        if not log.tracked(eid):
            log.track(eid, row.next_seq)
    at = sql.ts(now)
    task_updates: list[tuple[Any, ...]] = []
    fresh_outputs: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    touched: set[str] = set()
    max_resets = settings.max_resets
    for o in outcomes:
        ex = execs.get(o.execution_id)
        t = tasks.get(o.execution_id, {}).get(o.task_name)
        if ex is None or t is None:
            continue  # stale: the execution or task is gone
        rules = Rules(
            policy=defs.get(conn, ex.workflow_name, ex.workflow_version)
            .workflow.task(o.task_name)
            .retry,
            now=now,
            cancelled=ex.status == CANCELLED,
            max_resets=max_resets,
            rng=rng,
        )
        change = apply_outcome(_snapshot(t), o, rules)
        if change is None:
            continue  # stale: the task was reset or cancelled, or claimed again, meanwhile
        result.applied += 1
        touched.add(o.execution_id)
        output = None
        if change.verdict is Verdict.COMPLETED:
            # encoded once: stored, and passed on as it is to a task it alone feeds
            output = stored_json(o.output or {})
            fresh_outputs[o.execution_id][o.task_name] = output
        task_updates.append(_task_row(sql, t, change, now, at, output))
        log.add(o.execution_id, _EVENTS[change.verdict], o.task_name, change.data)
    many(conn, sql.update_task, task_updates)
    advance(conn, sql, touched, execs, tasks, fresh_outputs, defs, log, now, result)
    if own_log:
        log.flush(conn, sql)
    return execs


def _snapshot(t: dict[str, Any]) -> TaskSnapshot:
    return TaskSnapshot(t["state"], t["attempt"], t["claimant_id"], t["reset_count"], t["error"])


def _task_row(
    sql: Sql,
    t: dict[str, Any],
    change: TaskChange,
    now: dt.datetime,
    at: Any,
    output: Mapping[str, Any] | None,
) -> tuple[Any, ...]:
    """Apply ``change`` (and a Completed task's ``output``) to the loaded task ``t`` and
    return its ``update_task`` row."""
    text = dumps(output)
    t.update(
        state=change.state,
        attempt=change.attempt,
        claimant_id=change.claimant_id,
        reset_count=change.reset_count,
        error=change.error,
        retry_at=change.retry_at,
        completed_at=change.completed_at,
    )
    done = change.completed_at
    return (
        change.state,
        change.attempt,
        sql.ts(change.retry_at),
        change.claimant_id,
        change.reset_count,
        change.error,
        at if done is now else sql.ts(done),
        text,
        t["id"],
    )

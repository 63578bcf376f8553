"""The engine's database transactions (synchronous; the executor runs them on a thread).

Every state change is committed, with its event, before anyone acts on it.
One :func:`cycle` transaction does as much as it can at once: start new
executions, record finished attempts, advance the DAGs, and claim the next
batch of Ready tasks, so the hot path pays one commit per batch, not per task.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from cloacinactl.engine import retry, transitions
from cloacinactl.engine.claims import Claimed, claim
from cloacinactl.engine.events import EventLog, EventType, ExecRow, lock_executions
from cloacinactl.engine.fastsql import Sql, dumps, fetch, many
from cloacinactl.engine.model import ExecutionStatus, TaskState
from cloacinactl.engine.queries import ExecutionResult, TaskResult
from cloacinactl.engine.registry import DefCache, Registered
from cloacinactl.store import schema as s

T = s.tasks.c
E = s.executions.c
_ACTIVE = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)
NOT_STARTED = TaskState.NOT_STARTED.value
READY = TaskState.READY.value


@dataclass(frozen=True)
class NewExecution:
    id: str
    registered: Registered
    context: dict[str, Any]
    origin: str = "manual"
    trace_parent: str | None = None  # W3C traceparent of the request that started it


@dataclass(frozen=True)
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


@dataclass
class CycleResult:
    claimed: list[Claimed] = field(default_factory=list)
    finished: dict[str, ExecutionResult] = field(default_factory=dict)
    applied: int = 0
    made_ready: int = 0
    next_due: dt.datetime | None = None  # the earliest retry_at still in the future


@dataclass(frozen=True)
class Settings:
    max_resets: int = 3


def _err_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    return f"{error.get('kind', 'error')}: {error.get('message', '')}"


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
        for task in wf.tasks:
            log.add(item.id, EventType.TASK_CREATED, task.id)
            tr = first.get(task.id)
            if tr is None:
                task_rows.append((item.id, task.id, NOT_STARTED, None, None, None, at))
            elif tr.to is TaskState.READY:
                task_rows.append((item.id, task.id, READY, dumps(tr.context), at, None, at))
                log.add(item.id, EventType.TASK_MARKED_READY, task.id, {"reason": tr.reason})
            else:
                task_rows.append((item.id, task.id, tr.to.value, None, None, at, at))
                log.add(item.id, EventType.TASK_SKIPPED, task.id, {"reason": tr.reason})
        exec_rows.append(
            (
                item.id,
                wf.name,
                wf.version,
                ExecutionStatus.PENDING.value,
                dumps(item.context),
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
        result.next_due = sql.parse_ts(rows[0][0]) if rows else None
    return result


_TASK_COLS = (
    "id",
    "execution_id",
    "task_name",
    "state",
    "attempt",
    "claimant_id",
    "reset_count",
    "error",
)


def load_tasks(
    conn: Connection, sql: Sql, execution_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    ids = sorted(set(execution_ids))
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in fetch(conn, sql.tasks_of(len(chunk)), chunk):
            out[row[1]][row[2]] = dict(zip(_TASK_COLS, row, strict=True))
    return out


def _load_outputs(
    conn: Connection, sql: Sql, execution_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    ids = sorted(set(execution_ids))
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for eid, name, text in fetch(conn, sql.outputs_of(len(chunk)), chunk):
            out[eid][name] = json.loads(text)
    return out


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
    new_outputs: list[tuple[Any, ...]] = []
    fresh_outputs: dict[str, dict[str, Any]] = defaultdict(dict)
    touched: set[str] = set()

    def ts(value: dt.datetime | None) -> Any:
        return at if value is now else sql.ts(value)

    def upd(t: dict[str, Any], **changes: Any) -> None:
        t.update(changes)
        task_updates.append(
            (
                t["state"],
                t["attempt"],
                ts(t.get("retry_at")),
                t["claimant_id"],
                t["reset_count"],
                t.get("error"),
                ts(t.get("completed_at")),
                t["id"],
            )
        )

    for o in outcomes:
        ex = execs.get(o.execution_id)
        t = tasks.get(o.execution_id, {}).get(o.task_name)
        if ex is None or t is None or t["state"] != TaskState.RUNNING.value:
            continue  # stale: the task was reset or cancelled meanwhile
        if t["attempt"] != o.attempt or (o.claimant_id and t["claimant_id"] != o.claimant_id):
            continue  # stale: another claimant owns a newer attempt
        result.applied += 1
        touched.add(o.execution_id)
        cancelled = ex.status == ExecutionStatus.CANCELLED.value
        reg = defs.get(conn, ex.workflow_name, ex.workflow_version)
        if o.kind == "completed":
            output = o.output or {}
            new_outputs.append((t["id"], o.execution_id, o.task_name, dumps(output), at))
            fresh_outputs[o.execution_id][o.task_name] = output
            upd(t, state=TaskState.COMPLETED.value, completed_at=now, error=None)
            log.add(
                o.execution_id,
                EventType.TASK_COMPLETED,
                o.task_name,
                {"attempt": o.attempt, **(o.captured or {})},
            )
        elif o.kind == "failed":
            err = o.error or {}
            policy = reg.workflow.task(o.task_name).retry
            failure = retry.Failure(
                str(err.get("exc_type") or err.get("kind", "error")),
                str(err.get("message", "")),
                bool(err.get("transient", False)),
            )
            decision = retry.decide(policy, o.attempt, failure, rng)
            data = {
                "attempt": o.attempt,
                "error": err,
                "reason": decision.reason,
                **(o.captured or {}),
            }
            if decision.retry and not cancelled:
                # (not ``at``: that is this cycle's time, still used for later rows)
                due = now + dt.timedelta(milliseconds=decision.delay_ms)
                upd(
                    t,
                    state=TaskState.READY.value,
                    retry_at=due,
                    claimant_id=None,
                    error=_err_text(err),
                )
                data |= {"retry_at": due.isoformat(), "delay_ms": decision.delay_ms}
                log.add(o.execution_id, EventType.TASK_RETRY_SCHEDULED, o.task_name, data)
            else:
                upd(t, state=TaskState.FAILED.value, completed_at=now, error=_err_text(err))
                log.add(o.execution_id, EventType.TASK_FAILED, o.task_name, data)
        else:  # reset: the claimant died; the attempt did not happen
            resets = t["reset_count"] + 1
            data = {"attempt": o.attempt, "claimant_id": t["claimant_id"], "resets": resets}
            if resets > settings.max_resets or cancelled:
                err_text = f"abandoned after {resets - 1} resets (claimant died)"
                upd(
                    t,
                    state=TaskState.FAILED.value,
                    completed_at=now,
                    reset_count=resets,
                    error=err_text,
                )
                log.add(
                    o.execution_id,
                    EventType.TASK_ABANDONED,
                    o.task_name,
                    data | {"error": err_text},
                )
            else:
                upd(
                    t,
                    state=TaskState.READY.value,
                    attempt=t["attempt"] - 1,
                    claimant_id=None,
                    reset_count=resets,
                    retry_at=None,
                )
                log.add(o.execution_id, EventType.TASK_RESET, o.task_name, data)
    many(conn, sql.insert_output, new_outputs)
    many(conn, sql.update_task, task_updates)
    advance(conn, sql, touched, execs, tasks, fresh_outputs, defs, log, now, result)
    if own_log:
        log.flush(conn, sql)
    return execs


def advance(
    conn: Connection,
    sql: Sql,
    touched: set[str],
    execs: dict[str, Any],
    tasks: dict[str, dict[str, dict[str, Any]]],
    fresh: dict[str, dict[str, Any]],
    defs: DefCache,
    log: EventLog,
    now: dt.datetime,
    result: CycleResult,
) -> None:
    """Mark newly eligible tasks Ready/Skipped; finish executions whose tasks are all terminal."""
    need_outputs: list[str] = []
    states: dict[str, dict[str, TaskState]] = {}
    for eid in touched:
        states[eid] = {name: TaskState(t["state"]) for name, t in tasks[eid].items()}
        if execs[eid].status in _ACTIVE:
            need_outputs.append(eid)
    outputs = _load_outputs(conn, sql, need_outputs) if need_outputs else {}
    at = sql.ts(now)
    ready_rows: list[tuple[Any, ...]] = []
    done_rows: list[tuple[Any, ...]] = []
    skipped_rows: list[tuple[Any, ...]] = []
    for eid in need_outputs:
        ex = execs[eid]
        wf = defs.get(conn, ex.workflow_name, ex.workflow_version).workflow
        outs = outputs.get(eid, {}) | fresh.get(eid, {})
        st = states[eid]
        for tr in transitions.next_transitions(wf, st, outs, ex.input_context):
            st[tr.task_id] = tr.to
            trow = tasks[eid][tr.task_id]
            if tr.to is TaskState.READY:
                ready_rows.append((tr.to.value, dumps(tr.context), at, trow["id"]))
                log.add(eid, EventType.TASK_MARKED_READY, tr.task_id, {"reason": tr.reason})
                result.made_ready += 1
            else:
                skipped_rows.append(
                    (
                        tr.to.value,
                        trow["attempt"],
                        None,
                        None,
                        trow["reset_count"],
                        None,
                        at,
                        trow["id"],
                    )
                )
                log.add(eid, EventType.TASK_SKIPPED, tr.task_id, {"reason": tr.reason})
        status = transitions.execution_outcome(wf, st)
        if status is None:
            continue
        completed = {n: o for n, o in outs.items() if st.get(n) is TaskState.COMPLETED}
        out = transitions.execution_output(wf, completed, ex.input_context)
        done_rows.append((status.value, dumps(out), at, eid))
        event = (
            EventType.WORKFLOW_COMPLETED
            if status is ExecutionStatus.COMPLETED
            else EventType.WORKFLOW_FAILED
        )
        failed = sorted(n for n, v in st.items() if v is TaskState.FAILED)
        log.add(eid, event, None, {"status": status.value, "failed_tasks": failed})
        trows = tasks[eid]
        result.finished[eid] = ExecutionResult(
            execution_id=eid,
            workflow=ex.workflow_name,
            workflow_version=ex.workflow_version,
            status=status.value,
            input=ex.input_context,
            output=out,
            tasks={
                t.id: TaskResult(
                    t.id,
                    st[t.id].value,
                    trows[t.id]["attempt"],
                    trows[t.id].get("error"),
                    trows[t.id]["reset_count"],
                )
                for t in wf.tasks
            },
            trigger_origin=ex.trigger_origin,
            created_at=ex.created_at,
            started_at=ex.started_at,
            completed_at=now,
        )
    many(conn, sql.mark_ready, ready_rows)
    many(conn, sql.update_task, skipped_rows)
    many(conn, sql.finish_execution, done_rows)

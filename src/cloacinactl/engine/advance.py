"""Advancing executions after their tasks changed: the pure step
(:func:`cloacinactl.workflow.transitions.advance_execution`) applied in the
current transaction: dependents become Ready or Skipped, finished executions
get their status and output."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection

from cloacinactl.store.claims import Claimed
from cloacinactl.store.events import EventLog, EventType, ExecRow, encoded
from cloacinactl.store.executions import ExecutionResult, TaskResult
from cloacinactl.store.fastsql import Sql, dumps, many
from cloacinactl.store.lifecycle import event_log_for, lock_execution, set_execution
from cloacinactl.store.registry import DefCache
from cloacinactl.store.tasks import load_outputs, load_tasks
from cloacinactl.workflow import transitions
from cloacinactl.workflow.model import ExecutionStatus, TaskState, WorkflowDef
from cloacinactl.workflow.states import ADVANCING_STATUSES, TERMINAL_TASK_STATES


@dataclass
class CycleResult:
    claimed: list[Claimed] = field(default_factory=list)
    finished: dict[str, ExecutionResult] = field(default_factory=dict)
    applied: int = 0
    made_ready: int = 0
    next_due: dt.datetime | None = None  # the earliest retry_at still in the future


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
    moving: list[tuple[str, WorkflowDef]] = []
    for eid in touched:
        ex = execs[eid]
        if ex.status in ADVANCING_STATUSES:
            wf = defs.get(conn, ex.workflow_name, ex.workflow_version).workflow
            if _may_advance(wf, tasks[eid]):
                moving.append((eid, wf))
    # outputs are read only for executions where something can follow
    outputs = load_outputs(conn, sql, [eid for eid, _ in moving], fresh) if moving else {}
    at = sql.ts(now)
    rows = _AdvanceRows()
    for eid, wf in moving:
        ex = execs[eid]
        states = {name: _STATES[t["state"]] for name, t in tasks[eid].items()}
        outs = outputs.get(eid, {}) | fresh.get(eid, {})
        adv = transitions.advance_execution(wf, states, outs, ex.stored_input)
        _transition_rows(eid, adv, tasks[eid], at, log, rows)
        result.made_ready += sum(1 for tr in adv.transitions if tr.to is TaskState.READY)
        if adv.status is None:
            continue
        rows.done.append((adv.status.value, dumps(adv.output), at, eid))
        event = (
            EventType.WORKFLOW_COMPLETED
            if adv.status is ExecutionStatus.COMPLETED
            else EventType.WORKFLOW_FAILED
        )
        log.add(eid, event, None, {"status": adv.status.value, "failed_tasks": adv.failed_tasks})
        result.finished[eid] = _finished(eid, ex, wf, adv, tasks[eid], now)
    many(conn, sql.mark_ready, rows.ready)
    many(conn, sql.update_task, rows.skipped)
    many(conn, sql.finish_execution, rows.done)


_STATES = {s.value: s for s in TaskState}  # a dict lookup: TaskState(value) costs ~20x
_NOT_STARTED = TaskState.NOT_STARTED.value


def _may_advance(wf: WorkflowDef, trows: dict[str, dict[str, Any]]) -> bool:
    """Whether :func:`transitions.advance_execution` can find anything: a NotStarted
    task whose dependencies are all terminal, or every task terminal (states only,
    so an execution where nothing follows costs no output read or merge)."""
    every = True
    for task in wf.tasks:
        row = trows.get(task.id)
        state = row["state"] if row is not None else _NOT_STARTED
        if state in TERMINAL_TASK_STATES:
            continue
        every = False
        if state == _NOT_STARTED and all(
            (d in trows and trows[d]["state"] in TERMINAL_TASK_STATES) for d in task.dependencies
        ):
            return True
    return every


@dataclass
class _AdvanceRows:
    ready: list[tuple[Any, ...]] = field(default_factory=list)
    skipped: list[tuple[Any, ...]] = field(default_factory=list)
    done: list[tuple[Any, ...]] = field(default_factory=list)


def _transition_rows(
    eid: str,
    adv: transitions.Advance,
    trows: dict[str, dict[str, Any]],
    at: Any,
    log: EventLog,
    rows: _AdvanceRows,
) -> None:
    for tr in adv.transitions:
        trow = trows[tr.task_id]
        if tr.to is TaskState.READY:
            rows.ready.append((tr.to.value, dumps(tr.context), at, trow["id"]))
            log.add(eid, EventType.TASK_MARKED_READY, tr.task_id, encoded("reason", tr.reason))
        else:
            rows.skipped.append(
                (
                    tr.to.value,
                    trow["attempt"],
                    None,
                    None,
                    trow["reset_count"],
                    None,
                    at,
                    None,
                    trow["id"],
                )
            )
            log.add(eid, EventType.TASK_SKIPPED, tr.task_id, encoded("reason", tr.reason))


def _finished(
    eid: str,
    ex: ExecRow,
    wf: WorkflowDef,
    adv: transitions.Advance,
    trows: dict[str, dict[str, Any]],
    now: dt.datetime,
) -> ExecutionResult:
    assert adv.status is not None and adv.output is not None
    st = adv.states
    return ExecutionResult(
        execution_id=eid,
        workflow=ex.workflow_name,
        workflow_version=ex.workflow_version,
        status=adv.status.value,
        input=ex.input_context,
        output=dict(adv.output),
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


def resume_execution(
    conn: Connection, sql: Sql, defs: DefCache, execution_id: str, now: dt.datetime
) -> CycleResult | None:
    """Resume a Paused execution: back to Running, or to Pending when no task of it was
    ever claimed (its first claim then starts it as usual). Outcomes recorded while it
    was paused did not advance it, so its DAG advances here: dependents become Ready (or
    Skipped), and when every task is terminal it finishes in this transaction. Returns
    what advanced (``finished`` names it if it finished); None when it was not Paused;
    UserError when it is over."""
    ex = lock_execution(conn, sql, execution_id, "resume")
    if ex.status != ExecutionStatus.PAUSED.value:
        return None
    status = ExecutionStatus.RUNNING if ex.started_at is not None else ExecutionStatus.PENDING
    log = event_log_for(ex, now)
    set_execution(
        conn,
        log,
        execution_id,
        EventType.WORKFLOW_RESUMED,
        {"status": status.value},
        status=status.value,
        paused_at=None,
        pause_reason=None,
    )
    result = CycleResult()
    tasks = load_tasks(conn, sql, [execution_id])
    execs = {execution_id: replace(ex, status=status.value)}
    advance(conn, sql, {execution_id}, execs, tasks, {}, defs, log, now, result)
    log.flush(conn, sql)
    return result

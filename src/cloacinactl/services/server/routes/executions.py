"""A tenant's executions: ``/v1/tenants/{tenant}/executions[/{exec_id}[/...]]`` (read key).

- the list, newest first, filtered by ``workflow`` / ``status``, paged by
  ``limit`` / ``offset``;
- one execution's detail, its per-task rows and its event log (``since`` keeps
  the events newer than a duration ago, ``30s`` / ``5m`` / ``1h``, or than an
  RFC 3339 time);
- ``…/events/stream``: the event log as server-sent events, one message per event
  (``id:`` its ``sequence_num``, ``event:`` its type, ``data:`` the event as the
  events route shows it). Existing events come first, then new ones as the engine
  writes them; ``Last-Event-ID`` resumes after that number. Once the execution is
  Completed, Failed or Cancelled and every event is out, an ``end`` message
  (``{"execution_id", "status"}``, no id) is sent and the stream closes.
  Comments (``: ping``) keep idle connections alive.

An ``exec_id`` that is not a UUID is 400 ``invalid_execution_id``; an unknown one
404 ``execution_not_found``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import trio
from fastapi import Depends, Header, Query, Request
from loguru import logger
from pydantic import BaseModel
from sqlalchemy import Connection
from sse_starlette import EventSourceResponse, ServerSentEvent

from cloacinactl.config.duration import parse_duration
from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.services.server import reads
from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import Page, errors, page, uuid_param
from cloacinactl.services.server.state import state_of
from cloacinactl.store import Store
from cloacinactl.store import executions as ex
from cloacinactl.workflow.states import ExecutionStatus

STATUSES = {status.value.lower() for status in ExecutionStatus}

router = keyed_router("executions")
T = TypeVar("T")

BASE = "/v1/tenants/{tenant}/executions/{exec_id}"
POLL_S = 0.15  # how often a stream looks for new events
PING_S = 15.0  # keep-alive comment interval (the CLI gives up after 60 s of silence)
MAX_SEQ = 2**31 - 1  # sequence numbers are 32-bit integers in the database
SINCE_HINT = "a duration (30s, 5m, 1h, 1d12h) or an RFC 3339 time"


class ExecutionSummary(BaseModel):
    """One row of the executions list."""

    id: str
    workflow_name: str
    status: str
    started_at: str
    completed_at: str | None
    trigger_origin: str | None


class ExecutionList(BaseModel):
    items: list[ExecutionSummary]
    total: int
    tenant_id: str


class ExecutionDetail(BaseModel):
    tenant_id: str
    execution_id: str
    workflow_name: str
    workflow_version: str
    status: str
    trigger_origin: str | None = None
    input_context: Any = None
    output_context: Any = None
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    paused_at: str | None = None
    pause_reason: str | None = None


class ExecutionEvent(BaseModel):
    """One event; ``event_data`` is JSON text (or null)."""

    id: str
    event_type: str
    event_data: str | None
    task_name: str | None
    created_at: str
    sequence_num: int


class ExecutionEventsResponse(BaseModel):
    tenant_id: str
    execution_id: str
    events: list[ExecutionEvent]


class TaskExecutionDetail(BaseModel):
    id: str
    task_name: str
    status: str
    attempt: int
    max_attempts: int
    created_at: str
    updated_at: str
    started_at: str | None = None
    completed_at: str | None = None
    last_error: str | None = None
    error_details: str | None = None
    sub_status: str | None = None


class ExecutionTasksResponse(BaseModel):
    tenant_id: str
    execution_id: str
    tasks: list[TaskExecutionDetail]


def execution_id_of(exec_id: str) -> str:
    """The canonical form of a path's execution id; 400 ``invalid_execution_id``."""
    return uuid_param(exec_id, "execution")


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """``since``: ``now`` minus a duration, or an RFC 3339 time (naive means UTC);
    400 ``invalid_since`` otherwise."""
    raw = text.strip()
    try:
        if raw[:1].isdigit() and any(c in raw for c in "-:T"):
            stamp = dt.datetime.fromisoformat(raw)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
            return stamp.astimezone(dt.UTC)  # (overflows here, not in the query, near 1 / 9999)
        return now - parse_duration(raw)
    except (ValueError, OverflowError, UserError):
        raise ApiError(400, "invalid_since", f"invalid since {text!r}: {SINCE_HINT}") from None


def _not_found(execution_id: str) -> ApiError:
    return ApiError(404, "execution_not_found", f"execution {execution_id} not found")


async def _read(
    request: Request, tenant: str, fn: Callable[[Connection], T], execution_id: str = ""
) -> T:
    """Run ``fn`` in a read of the tenant's store; NotFoundError becomes the 404."""
    store = state_of(request).tenant_store(tenant)
    try:
        return await reads.read(store, fn)
    except NotFoundError:
        raise _not_found(execution_id) from None


@router.get(
    "/v1/tenants/{tenant}/executions", operation_id="list_executions", responses=errors(400)
)
async def list_executions(
    request: Request,
    tenant: str,
    paging: Annotated[Page, Depends(page)],
    workflow: Annotated[str | None, Query(description="Only executions of this workflow.")] = None,
    status: Annotated[str | None, Query(description="Only executions in this state.")] = None,
) -> ExecutionList:
    """The tenant's executions, newest first; ``total`` counts every match."""
    if status is not None and status.lower() not in STATUSES:
        raise ApiError(
            400,
            "invalid_request",
            f"unknown status {status!r}: one of {', '.join(s.value for s in ExecutionStatus)}",
        )
    rows, total = await _read(
        request,
        tenant,
        lambda c: ex.list_executions(
            c, workflow=workflow, status=status, limit=paging.limit, offset=paging.offset
        ),
    )
    items = [ExecutionSummary(**ex.execution_summary(row)) for row in rows]
    return ExecutionList(items=items, total=total, tenant_id=tenant)


@router.get(BASE, operation_id="get_execution", responses=errors(400, 404))
async def get_execution(request: Request, tenant: str, exec_id: str) -> ExecutionDetail:
    """One execution: status, contexts, error, timestamps."""
    eid = execution_id_of(exec_id)
    detail = await _read(request, tenant, lambda c: ex.execution_detail(c, eid), eid)
    return ExecutionDetail(tenant_id=tenant, **detail)


@router.get(f"{BASE}/events", operation_id="get_execution_events", responses=errors(400, 404))
async def get_execution_events(
    request: Request,
    tenant: str,
    exec_id: str,
    since: Annotated[str | None, Query(description=f"Only newer events: {SINCE_HINT}.")] = None,
) -> ExecutionEventsResponse:
    """The execution's event log in sequence order."""
    eid = execution_id_of(exec_id)
    after = None if since is None else parse_since(since, dt.datetime.now(dt.UTC))
    rows = await _read(request, tenant, lambda c: ex.list_events(c, eid, since=after), eid)
    events = [ExecutionEvent(**ex.api_event(row)) for row in rows]
    return ExecutionEventsResponse(tenant_id=tenant, execution_id=eid, events=events)


@router.get(f"{BASE}/tasks", operation_id="get_execution_tasks", responses=errors(400, 404))
async def get_execution_tasks(
    request: Request, tenant: str, exec_id: str
) -> ExecutionTasksResponse:
    """Per task: state, attempts, timings, last error."""
    eid = execution_id_of(exec_id)
    rows = await _read(request, tenant, lambda c: ex.execution_tasks(c, eid), eid)
    tasks = [TaskExecutionDetail(**row) for row in rows]
    return ExecutionTasksResponse(tenant_id=tenant, execution_id=eid, tasks=tasks)


STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The execution's events as server-sent events, until it ends.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **errors(400, 404),
}


def _last_event_id(value: str | None) -> int | None:
    """``Last-Event-ID``: the number of the last event the client saw (blank: none)."""
    raw = (value or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SEQ:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event's number")
    return int(raw)


def _message(event: dict[str, Any]) -> ServerSentEvent:
    body = ex.api_event(event)
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return ServerSentEvent(data=data, id=str(body["sequence_num"]), event=body["event_type"])


async def event_messages(
    store: Store, execution_id: str, after: int | None, stopping: trio.Event | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Every event numbered after ``after``, then new ones as they come; ends after
    the ``end`` message once the execution is over (or when it disappears), and
    at once when the server begins to stop (the client resumes with Last-Event-ID)."""
    last = after
    while stopping is None or not stopping.is_set():
        try:
            status, rows = await reads.read(
                store, partial(ex.events_after, execution_id=execution_id, after_seq=last)
            )
        except Exception as exc:  # the store went away (tenant deleted, database down)
            logger.warning("event stream stopped execution={}: {}", execution_id, exc)
            return
        for row in rows:
            yield _message(row)
            last = int(row["sequence_num"])
        if status is None or status in ex.TERMINAL:
            end = {"execution_id": execution_id, "status": status}
            yield ServerSentEvent(data=json.dumps(end, separators=(",", ":")), event="end")
            return
        with trio.move_on_after(POLL_S):
            if stopping is not None:
                await stopping.wait()
            else:
                await trio.sleep_forever()


@router.get(
    f"{BASE}/events/stream",
    operation_id="stream_execution_events",
    response_class=EventSourceResponse,
    responses=STREAM_DOC,
)
async def stream_execution_events(
    request: Request,
    tenant: str,
    exec_id: str,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event number.")
    ] = None,
) -> EventSourceResponse:
    """The execution's events live, as server-sent events, until it ends."""
    eid = execution_id_of(exec_id)
    after = _last_event_id(last_event_id)
    state = state_of(request)
    store = state.tenant_store(tenant)
    status = await _read(request, tenant, lambda c: ex.execution_status(c, eid), eid)
    if status is None:
        raise _not_found(eid)
    return EventSourceResponse(event_messages(store, eid, after, state.stopping), ping=PING_S)

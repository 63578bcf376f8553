"""A tenant's schedules (cron and custom-poll triggers): ``/v1/tenants/{tenant}/triggers``.

A schedule is addressed by its trigger name, else by the workflow it starts
(or its id); an unknown name is 404 ``trigger_not_found``.

- ``GET`` lists the schedules a page at a time; ``GET {name}`` adds its recent
  executions (scheduled, polled and manual fires of it); ``GET {name}/interface``
  is the declared params of the workflow it starts, as upstream's
  ``DeclaredSurface`` (``kind: "trigger"``).
- ``pause`` / ``resume`` mark the schedule in the database and tell this
  server's schedulers at once (other servers on the database follow within
  about a second, on their change check); resuming skips the cron slots that
  fell while paused.
- ``fire`` starts every workflow subscribed to the trigger name now
  (``trigger_origin: "manual"``) with the optional ``event`` merged into each
  context, checked against every one's declared params first (one refusal starts
  nothing); paused workflows are skipped, and when all are, 409
  ``workflow_paused``. A paused schedule can still be fired by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import trio
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from cloacinactl.services.server import reads
from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import Page, StrictBody, errors, page
from cloacinactl.services.server.routes.workflows import InputSlot
from cloacinactl.services.server.runs import check_run, launch
from cloacinactl.services.server.state import state_of
from cloacinactl.store import Store
from cloacinactl.store import triggers as tr
from cloacinactl.store.workflows import find_workflow

router = keyed_router("triggers")


# -- shapes (upstream's schemas of the same names) ---------------------------------------


class TriggerScheduleSummary(BaseModel):
    """One row of the trigger list."""

    id: str = Field(description="Schedule UUID.")
    schedule_type: str = Field(description="`cron` or `trigger`.")
    workflow_name: str
    enabled: bool
    cron_expression: str | None = None
    trigger_name: str | None = None
    poll_interval_ms: int | None = None
    next_run_at: str | None = Field(None, description="RFC 3339 timestamp.")
    last_run_at: str | None = Field(None, description="RFC 3339 timestamp.")
    created_at: str = Field(description="RFC 3339 timestamp.")
    paused: bool = Field(description="A paused schedule is not fired until resumed.")


class TriggerList(BaseModel):
    items: list[TriggerScheduleSummary]
    total: int
    tenant_id: str


class TriggerScheduleInfo(BaseModel):
    """Schedule fields of the trigger detail."""

    id: str
    schedule_type: str
    workflow_name: str
    enabled: bool
    cron_expression: str | None = None
    trigger_name: str | None = None
    poll_interval_ms: int | None = None
    paused: bool
    next_run_at: str | None = None
    last_run_at: str | None = None


class TriggerExecution(BaseModel):
    """One of the schedule's recent executions (newest first)."""

    id: str = Field(description="The execution's id.")
    scheduled_time: str | None = Field(None, description="The cron slot, for cron runs.")
    started_at: str
    completed_at: str | None = None


class TriggerDetailResponse(BaseModel):
    tenant_id: str
    schedule: TriggerScheduleInfo
    recent_executions: list[TriggerExecution]


class DeclaredSurface(BaseModel):
    """What a fire's ``event`` may carry: the declared params of the trigger's workflow."""

    kind: str = Field(description='Always `"trigger"` here.')
    name: str = Field(description="The trigger's name.")
    slots: list[InputSlot]


class TriggerPauseResponse(BaseModel):
    tenant_id: str
    id: str = Field(description="Schedule UUID.")
    name: str = Field(description="The name the schedule was addressed by.")
    status: str = Field(description='`"paused"` or `"resumed"`.')
    paused: bool


class FireTriggerRequest(StrictBody):
    event: dict[str, Any] | None = Field(
        None,
        description="Merged into the fired workflow's context, checked against its declared"
        " params. Omit to fire with just the trigger metadata.",
    )


class FiredExecution(BaseModel):
    workflow_name: str
    execution_id: str


class FireTriggerResponse(BaseModel):
    tenant_id: str
    trigger: str = Field(description="The trigger name fired.")
    fired: int = Field(description="How many workflows were started.")
    executions: list[FiredExecution]


# -- helpers -----------------------------------------------------------------------------


def _not_found(name: str) -> ApiError:
    return ApiError(404, "trigger_not_found", f"trigger {name!r} not found")


async def _schedule(store: Store, name: str) -> Any:
    """The schedule ``name`` addresses; 404 ``trigger_not_found``."""
    row = await reads.read(store, lambda c: tr.find_trigger(c, name))
    if row is None:
        raise _not_found(name)
    return row


def _trigger_name(schedule: Any) -> str:
    return str(schedule.trigger_name or schedule.workflow_name)


# -- routes ------------------------------------------------------------------------------


@router.get("/v1/tenants/{tenant}/triggers", operation_id="list_triggers")
async def list_triggers(
    request: Request, tenant: str, paging: Annotated[Page, Depends(page)]
) -> TriggerList:
    """The tenant's schedules (cron and custom-poll), by workflow then trigger name."""
    store = state_of(request).tenant_store(tenant)
    rows, total = await trio.to_thread.run_sync(
        store.read, lambda c: tr.list_triggers(c, limit=paging.limit, offset=paging.offset)
    )
    items = [TriggerScheduleSummary(**row) for row in rows]
    return TriggerList(items=items, total=total, tenant_id=tenant)


@router.get(
    "/v1/tenants/{tenant}/triggers/{name}", operation_id="get_trigger", responses=errors(404)
)
async def get_trigger(request: Request, tenant: str, name: str) -> TriggerDetailResponse:
    """One schedule (by trigger name, workflow name or id) and its recent executions."""
    store = state_of(request).tenant_store(tenant)

    def read(conn: Any) -> dict[str, Any] | None:
        row = tr.find_trigger(conn, name)
        return None if row is None else tr.trigger_detail(conn, row)

    detail = await trio.to_thread.run_sync(store.read, read)
    if detail is None:
        raise _not_found(name)
    return TriggerDetailResponse(
        tenant_id=tenant,
        schedule=TriggerScheduleInfo(**detail["schedule"]),
        recent_executions=[TriggerExecution(**e) for e in detail["recent_executions"]],
    )


@router.get(
    "/v1/tenants/{tenant}/triggers/{name}/interface",
    operation_id="get_trigger_interface",
    responses=errors(404),
)
async def get_trigger_interface(request: Request, tenant: str, name: str) -> DeclaredSurface:
    """What ``fire``'s ``event`` may carry: the declared params of the trigger's workflow
    (no slots: an untyped workflow, any event)."""
    store = state_of(request).tenant_store(tenant)
    schedule = await _schedule(store, name)
    view = await trio.to_thread.run_sync(
        store.read, lambda c: find_workflow(c, schedule.workflow_name)
    )
    params = view.detail()["declared_params"] if view is not None else []
    return DeclaredSurface(
        kind="trigger",
        name=_trigger_name(schedule),
        slots=[InputSlot.model_validate(p) for p in params],
    )


async def _set_paused(
    request: Request, tenant: str, name: str, paused: bool
) -> TriggerPauseResponse:
    state = state_of(request)
    store = state.tenant_store(tenant)
    schedule = await _schedule(store, name)
    now = dt.datetime.now(dt.UTC)
    await trio.to_thread.run_sync(
        store.write, lambda c: tr.set_trigger_paused(c, schedule.id, paused, now)
    )
    runtime = state.running_tenant(tenant)
    if runtime is not None and runtime.schedules is not None:
        await runtime.schedules.refresh_paused()
    return TriggerPauseResponse(
        tenant_id=tenant,
        id=schedule.id,
        name=name,
        status="paused" if paused else "resumed",
        paused=paused,
    )


@router.post(
    "/v1/tenants/{tenant}/triggers/{name}/pause",
    operation_id="pause_trigger",
    responses=errors(404),
)
async def pause_trigger(request: Request, tenant: str, name: str) -> TriggerPauseResponse:
    """Stop firing the schedule (runs already started finish); idempotent."""
    return await _set_paused(request, tenant, name, True)


@router.post(
    "/v1/tenants/{tenant}/triggers/{name}/resume",
    operation_id="resume_trigger",
    responses=errors(404),
)
async def resume_trigger(request: Request, tenant: str, name: str) -> TriggerPauseResponse:
    """Fire the schedule again from now on: slots missed while paused are skipped."""
    return await _set_paused(request, tenant, name, False)


@router.post(
    "/v1/tenants/{tenant}/triggers/{name}/fire",
    operation_id="fire_trigger",
    responses=errors(404, 409),
)
async def fire_trigger(
    request: Request, tenant: str, name: str, body: FireTriggerRequest | None = None
) -> FireTriggerResponse:
    """Start every workflow subscribed to the trigger now (``trigger_origin: "manual"``),
    ``event`` merged into each one's context. The event is checked against every
    subscriber first: one refusal (400) starts nothing. Paused workflows are skipped;
    409 ``workflow_paused`` when every subscriber is paused."""
    state = state_of(request)
    store = state.tenant_store(tenant)
    subscribers = await reads.read(store, lambda c: tr.trigger_subscribers(c, name))
    if not subscribers:
        raise ApiError(404, "trigger_not_found", f"no enabled workflow subscribes to {name!r}")
    event = (body.event if body is not None else None) or {}
    trigger = _trigger_name(subscribers[0])
    runs = [await check_run(state, tenant, str(s.workflow_name), event) for s in subscribers]
    fired: list[FiredExecution] = []
    paused: list[str] = []
    for run in runs:
        try:
            execution_id = await launch(state, run, trigger=trigger)
        except ApiError as exc:
            if exc.code != "workflow_paused":
                raise
            paused.append(run.workflow)
            continue
        fired.append(FiredExecution(workflow_name=run.workflow, execution_id=execution_id))
    if not fired:
        raise ApiError(409, "workflow_paused", f"every workflow of {name!r} is paused: {paused}")
    return FireTriggerResponse(
        tenant_id=tenant, trigger=trigger, fired=len(fired), executions=fired
    )

"""Workflows of a tenant: ``/v1/tenants/{tenant}/workflows[...]``.

- ``POST`` (multipart: part ``file`` = the ``.cloacina`` archive, optional part
  ``signature`` = its side-car) checks the archive, stores it in the database
  (every server on the database sees it) and, with no compiler running, loads
  it here at once so the answer means "runnable". With a compiler heartbeating
  on the database the package is left ``pending`` for it to build; the servers
  load the signed artifact once the build succeeds.
- ``GET`` lists one row per package with the workflow it declares; ``GET
  {name}`` (workflow name, package name or package id) adds build state,
  declared params and the task graph; ``source`` returns the package's text files.
- ``execute`` checks the declared params and secret bindings, then starts the
  run in this tenant's engine: 202 ``{execution_id, ..., status: "scheduled"}``.
- ``pause`` / ``resume`` mark the workflow in the database (every engine refuses
  to start a paused workflow); ``DELETE {name}/{version}`` removes a version.
"""

from __future__ import annotations

from typing import Any

import trio
from fastapi import File, Request, UploadFile
from loguru import logger
from pydantic import BaseModel, Field

from cloacinactl.errors import NotFoundError
from cloacinactl.services.server import reads
from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import StrictBody, errors
from cloacinactl.services.server.registration import checked_archive, load_here, store_checked
from cloacinactl.services.server.runs import start_run
from cloacinactl.services.server.sources import source_files
from cloacinactl.services.server.state import ServerState, state_of
from cloacinactl.store import Store
from cloacinactl.store.archives import package_with_archive
from cloacinactl.store.workflows import (
    WorkflowView,
    delete_workflow_version,
    find_workflow,
    list_workflows,
    set_workflow_paused,
)

router = keyed_router("workflows")


class WorkflowSummary(BaseModel):
    id: str
    package_name: str
    workflow_name: str
    version: str
    description: str | None = None
    tasks: list[str]
    created_at: str
    paused: bool


class WorkflowList(BaseModel):
    items: list[WorkflowSummary]
    total: int
    tenant_id: str


class InputSlot(BaseModel):
    name: str
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    required: bool
    encrypted: bool = False
    default: Any = None


class TaskNode(BaseModel):
    id: str
    dependencies: list[str]
    description: str | None = None


class WorkflowDetail(WorkflowSummary):
    tenant_id: str
    build_status: str
    build_error: str | None = None
    declared_params: list[InputSlot]
    task_graph: list[TaskNode]


class WorkflowUploaded(BaseModel):
    package_id: str
    tenant_id: str
    package_name: str
    version: str
    build_status: str = Field(description="success: runnable now; pending: the compiler builds it")


class ExecuteRequest(StrictBody):
    context: dict[str, Any] | None = Field(
        None, description="The run's input context (a JSON object)."
    )


class ExecuteResponse(BaseModel):
    execution_id: str
    workflow_name: str
    tenant_id: str
    status: str


class WorkflowPauseResponse(BaseModel):
    tenant_id: str
    id: str
    name: str
    status: str
    paused: bool


class WorkflowDeleted(BaseModel):
    status: str
    package_name: str
    version: str


class SourceFile(BaseModel):
    path: str
    contents: str
    language: str | None = None


class WorkflowSource(BaseModel):
    tenant_id: str
    id: str
    package_name: str
    workflow_name: str
    version: str
    files: list[SourceFile]


def _store(request: Request, tenant: str) -> Store:
    return state_of(request).tenant_store(tenant)


async def _view(store: Store, name: str) -> WorkflowView:
    view = await reads.read(store, lambda c: find_workflow(c, name))
    if view is None:
        raise ApiError(404, "workflow_not_found", f"workflow {name!r} not found")
    return view


@router.get("/v1/tenants/{tenant}/workflows", operation_id="list_workflows")
async def list_tenant_workflows(request: Request, tenant: str) -> WorkflowList:
    """Every stored package of the tenant with the workflow it declares."""
    views, total = await reads.read(_store(request, tenant), list_workflows)
    items = [WorkflowSummary(**v.summary()) for v in views]
    return WorkflowList(items=items, total=total, tenant_id=tenant)


@router.get(
    "/v1/tenants/{tenant}/workflows/{name}", operation_id="get_workflow", responses=errors(404)
)
async def get_workflow(request: Request, tenant: str, name: str) -> WorkflowDetail:
    """By workflow name, package name or package id: build state, params, task graph."""
    view = await _view(_store(request, tenant), name)
    return WorkflowDetail(tenant_id=tenant, **view.detail())


@router.post(
    "/v1/tenants/{tenant}/workflows",
    status_code=201,
    operation_id="upload_workflow",
    responses=errors(403, 409),
)
async def upload_workflow(
    request: Request,
    tenant: str,
    file: UploadFile = File(..., description="The .cloacina archive."),  # noqa: B008
    signature: UploadFile | None = File(None, description="Its signature side-car."),  # noqa: B008
) -> WorkflowUploaded:
    """Store a package; without a compiler it is registered and runnable on return."""
    state = state_of(request)
    store = state.tenant_store(tenant)
    data = await file.read()
    sig = await signature.read() if signature is not None else None
    checked, compiler = await checked_archive(state, data, sig or None)
    package_id, fresh = await trio.to_thread.run_sync(
        store_checked, store, checked, data, sig or None, compiler
    )
    if not compiler:
        await load_here(state, tenant, store, package_id)
    status = "pending" if compiler else "success"
    if fresh:
        logger.info(
            "package stored tenant={} name={} version={} id={} build_status={}",
            tenant,
            checked.manifest.name,
            checked.manifest.version,
            package_id,
            status,
        )
    return WorkflowUploaded(
        package_id=package_id,
        tenant_id=tenant,
        package_name=checked.manifest.name,
        version=checked.manifest.version,
        build_status=status,
    )


@router.post(
    "/v1/tenants/{tenant}/workflows/{name}/execute",
    status_code=202,
    operation_id="execute_workflow",
    responses=errors(404, 409),
)
async def execute_workflow(
    request: Request, tenant: str, name: str, body: ExecuteRequest | None = None
) -> ExecuteResponse:
    """Start a run: declared params checked first (400 ``workflow_input_invalid``)."""
    state = state_of(request)
    store = state.tenant_store(tenant)
    view = await _view(store, name)
    if view.package.paused:
        raise ApiError(409, "workflow_paused", f"workflow {view.workflow_name!r} is paused")
    if view.package.build_status != "success":
        raise ApiError(
            404,
            "workflow_not_found",
            f"workflow {view.workflow_name!r} is not runnable (build status:"
            f" {view.package.build_status})",
        )
    context = (body.context if body else None) or {}
    execution_id = await start_run(state, tenant, view.workflow_name, context)
    return ExecuteResponse(
        execution_id=execution_id,
        workflow_name=view.workflow_name,
        tenant_id=tenant,
        status="scheduled",
    )


async def _set_paused(
    request: Request, tenant: str, name: str, paused: bool
) -> WorkflowPauseResponse:
    state = state_of(request)
    store = state.tenant_store(tenant)
    view = await _view(store, name)
    await trio.to_thread.run_sync(store.write, lambda c: set_workflow_paused(c, view, paused))
    runtime = state.running_tenant(tenant)
    if runtime is not None:
        runtime.forget_workflow(view.workflow_name)
    return WorkflowPauseResponse(
        tenant_id=tenant,
        id=view.package.id,
        name=view.workflow_name,
        status="paused" if paused else "resumed",
        paused=paused,
    )


@router.post(
    "/v1/tenants/{tenant}/workflows/{name}/pause",
    operation_id="pause_workflow",
    responses=errors(404),
)
async def pause_workflow(request: Request, tenant: str, name: str) -> WorkflowPauseResponse:
    """New runs are refused (409 ``workflow_paused``); running ones finish."""
    return await _set_paused(request, tenant, name, True)


@router.post(
    "/v1/tenants/{tenant}/workflows/{name}/resume",
    operation_id="resume_workflow",
    responses=errors(404),
)
async def resume_workflow(request: Request, tenant: str, name: str) -> WorkflowPauseResponse:
    """Runs are accepted again."""
    return await _set_paused(request, tenant, name, False)


@router.delete(
    "/v1/tenants/{tenant}/workflows/{name}/{version}",
    operation_id="delete_workflow",
    responses=errors(404),
)
async def delete_workflow(
    request: Request, tenant: str, name: str, version: str
) -> WorkflowDeleted:
    """Remove that version (its package, archive and schedules); idempotent."""
    state = state_of(request)
    store = state.tenant_store(tenant)
    await trio.to_thread.run_sync(store.write, lambda c: delete_workflow_version(c, name, version))
    await reconcile_soon(state, tenant)
    return WorkflowDeleted(status="deleted", package_name=name, version=version)


async def reconcile_soon(state: ServerState, tenant: str) -> None:
    """Apply a stored change to this server's engine now (other servers follow on their tick)."""
    runtime = state.running_tenant(tenant)
    if runtime is not None:
        await runtime.reconcile()


@router.get(
    "/v1/tenants/{tenant}/workflows/{name}/source",
    operation_id="get_workflow_source",
    responses=errors(404),
)
async def get_workflow_source(request: Request, tenant: str, name: str) -> WorkflowSource:
    """The package's source files as text (Python, manifest, requirements)."""
    store = _store(request, tenant)
    view = await _view(store, name)
    try:
        _row, data = await trio.to_thread.run_sync(
            store.read, lambda c: package_with_archive(c, view.package.id)
        )
    except NotFoundError as exc:
        raise ApiError(404, "workflow_not_found", exc.message) from None
    files = await trio.to_thread.run_sync(source_files, data)
    return WorkflowSource(
        tenant_id=tenant,
        id=view.package.id,
        package_name=view.package.name,
        workflow_name=view.workflow_name,
        version=view.package.version,
        files=[SourceFile(**f) for f in files],
    )

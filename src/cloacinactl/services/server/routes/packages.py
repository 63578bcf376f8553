"""Packages by id: ``GET /v1/packages``, ``GET|DELETE /v1/packages/{package_id}``.

The caller's tenant is the key's own; an ``is_admin`` key may name another with
``?tenant=``. A package row carries its build state (``pending`` while a
compiler has not built it, ``failed`` with the build's error); deleting one
removes its archive, artifact and schedules, and this server unloads it at once.
"""

from __future__ import annotations

import trio
from fastapi import Query, Request
from pydantic import BaseModel

from cloacinactl.errors import NotFoundError
from cloacinactl.services.server.auth import CurrentKey, Principal, keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import errors, rfc3339, uuid_param
from cloacinactl.services.server.routes.workflows import reconcile_soon
from cloacinactl.services.server.state import state_of
from cloacinactl.store import Store
from cloacinactl.store.packages import PackageRow, delete_package, get_package, list_packages
from cloacinactl.store.workflows import workflow_name_of

router = keyed_router("packages")

TENANT_QUERY = Query(None, description="Another tenant's packages (is_admin keys only).")


class PackageInfo(BaseModel):
    id: str
    tenant_id: str
    package_name: str
    workflow_name: str
    version: str
    description: str | None = None
    content_hash: str
    build_status: str
    build_error: str | None = None
    paused: bool
    created_at: str
    updated_at: str


class PackageList(BaseModel):
    items: list[PackageInfo]
    total: int
    tenant_id: str


class PackageDeleted(BaseModel):
    status: str
    id: str
    package_name: str
    version: str


def _info(row: PackageRow, tenant: str) -> PackageInfo:
    return PackageInfo(
        id=row.id,
        tenant_id=tenant,
        package_name=row.name,
        workflow_name=workflow_name_of(row),
        version=row.version,
        description=row.description,
        content_hash=row.content_hash,
        build_status=row.build_status,
        build_error=row.build_error,
        paused=row.paused,
        created_at=rfc3339(row.created_at) or "",
        updated_at=rfc3339(row.updated_at) or "",
    )


async def _tenant(request: Request, principal: Principal, tenant: str | None) -> tuple[str, Store]:
    name = tenant or principal.tenant
    if name != principal.tenant and not principal.is_admin:
        raise ApiError(403, "tenant_access_denied", f"this key cannot access tenant {name!r}")
    return name, await state_of(request).ensure_tenant(name)


async def _row(store: Store, package_id: str) -> PackageRow:
    try:
        row: PackageRow = await trio.to_thread.run_sync(
            store.read, lambda c: get_package(c, package_id)
        )
    except NotFoundError:
        raise ApiError(404, "package_not_found", f"package {package_id} not found") from None
    return row


@router.get("/v1/packages", operation_id="list_packages")
async def list_tenant_packages(
    request: Request, principal: CurrentKey, tenant: str | None = TENANT_QUERY
) -> PackageList:
    """The tenant's packages, by name and version, with their build state."""
    name, store = await _tenant(request, principal, tenant)
    rows, total = await trio.to_thread.run_sync(
        store.read, lambda c: list_packages(c, limit=10_000)
    )
    return PackageList(items=[_info(r, name) for r in rows], total=total, tenant_id=name)


@router.get("/v1/packages/{package_id}", operation_id="get_package", responses=errors(404))
async def get_tenant_package(
    request: Request, principal: CurrentKey, package_id: str, tenant: str | None = TENANT_QUERY
) -> PackageInfo:
    """One package: version, build status and build error."""
    name, store = await _tenant(request, principal, tenant)
    return _info(await _row(store, uuid_param(package_id, "package")), name)


@router.delete("/v1/packages/{package_id}", operation_id="delete_package", responses=errors(404))
async def delete_tenant_package(
    request: Request, principal: CurrentKey, package_id: str, tenant: str | None = TENANT_QUERY
) -> PackageDeleted:
    """Delete a package, its archive and its schedules; running executions finish."""
    name, store = await _tenant(request, principal, tenant)
    pid = uuid_param(package_id, "package")
    row = await _row(store, pid)
    try:
        await trio.to_thread.run_sync(store.write, lambda c: delete_package(c, pid))
    except NotFoundError:
        raise ApiError(404, "package_not_found", f"package {pid} not found") from None
    await reconcile_soon(state_of(request), name)
    return PackageDeleted(status="deleted", id=pid, package_name=row.name, version=row.version)

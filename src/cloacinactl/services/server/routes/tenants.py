"""Tenants: ``/v1/tenants`` (list, create) and ``/v1/tenants/{name}`` (delete); is_admin only."""

from __future__ import annotations

import re

from fastapi import Request
from pydantic import BaseModel, Field

from cloacinactl.services.server import reads
from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import StrictBody, errors, rfc3339
from cloacinactl.services.server.state import state_of
from cloacinactl.store import control as ctl

router = keyed_router("tenants")

TENANT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
RESERVED = frozenset({"public", "information_schema", "main", "temp"})


def check_tenant_name(name: str) -> str:
    """http-api.md's rules: 1-63 characters, ``[A-Za-z_][A-Za-z0-9_]*``, not reserved."""
    if not TENANT_NAME.match(name):
        raise ApiError(
            400,
            "invalid_tenant_name",
            "tenant names are 1-63 characters: a letter or _ then letters, digits or _",
        )
    if name.lower() in RESERVED or name.lower().startswith("pg_"):
        raise ApiError(400, "reserved_tenant_name", f"tenant name {name!r} is reserved")
    return name


class CreateTenantRequest(StrictBody):
    # the pattern is documented, not enforced by pydantic: a bad name is answered with
    # its own code (invalid_tenant_name / reserved_tenant_name) by check_tenant_name
    name: str = Field(max_length=63, json_schema_extra={"pattern": TENANT_NAME.pattern})
    description: str | None = Field(None, max_length=1000)
    password: str | None = Field(
        None, description="Accepted for upstream compatibility; no database user is made."
    )


class TenantCreatedResponse(BaseModel):
    name: str
    username: str
    description: str | None


class TenantSummary(BaseModel):
    name: str
    description: str | None = None
    created_at: str | None = None


class TenantList(BaseModel):
    items: list[TenantSummary]
    total: int


class TenantRemovedResponse(BaseModel):
    status: str
    schema_name: str
    revoked_keys: int
    runner_evicted: bool
    db_cache_evicted: bool


@router.get("/v1/tenants", operation_id="list_tenants")
async def list_tenants(request: Request) -> TenantList:
    """Every tenant, ``public`` first."""
    state = state_of(request)
    rows = await reads.read(state.control, ctl.list_tenants)
    items = [TenantSummary(name="public", description="the built-in tenant")]
    items += [
        TenantSummary(name=r.name, description=r.description, created_at=rfc3339(r.created_at))
        for r in rows
    ]
    return TenantList(items=items, total=len(items))


@router.post(
    "/v1/tenants", status_code=201, operation_id="create_tenant", responses=errors(400, 409)
)
async def create_tenant(request: Request, body: CreateTenantRequest) -> TenantCreatedResponse:
    """A new tenant: its own PostgreSQL schema (or SQLite file) with every migration."""
    name = check_tenant_name(body.name)
    await state_of(request).create_tenant(name, body.description)
    return TenantCreatedResponse(name=name, username=name, description=body.description)


@router.delete("/v1/tenants/{name}", operation_id="remove_tenant", responses=errors(400, 404))
async def remove_tenant(request: Request, name: str) -> TenantRemovedResponse:
    """Revoke the tenant's keys, stop its work, drop its schema or file, forget it."""
    if name == "public":
        raise ApiError(400, "tenant_protected", "the public tenant cannot be deleted")
    if not TENANT_NAME.match(name):
        raise ApiError(404, "tenant_not_found", "no such tenant")
    removal = await state_of(request).delete_tenant(name)
    return TenantRemovedResponse(
        status="removed",
        schema_name=name,
        revoked_keys=removal.revoked_keys,
        runner_evicted=removal.listeners_told,
        db_cache_evicted=True,
    )

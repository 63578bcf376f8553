"""API keys: ``/v1/auth/keys`` (is_admin), ``/v1/tenants/{tenant}/keys`` (tenant admin), whoami."""

from __future__ import annotations

from typing import Literal

import trio
from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cloacinactl.services.server import reads
from cloacinactl.services.server.auth import CurrentKey, keyed_router
from cloacinactl.services.server.authz import Role
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import StrictBody, errors, rfc3339, uuid_param
from cloacinactl.services.server.state import ServerState, state_of
from cloacinactl.store import control as ctl

router = keyed_router("keys")


class CreateKeyRequest(StrictBody):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    role: Literal["admin", "write", "read"] = "read"


class KeyInfo(BaseModel):
    id: str
    name: str
    permissions: str
    tenant_id: str | None
    is_admin: bool
    created_at: str
    last_used_at: str | None
    revoked: bool


class KeyList(BaseModel):
    items: list[KeyInfo]
    total: int


class KeyCreatedResponse(BaseModel):
    id: str
    name: str
    key: str
    permissions: str
    tenant_id: str | None
    is_admin: bool
    created_at: str


class KeyRevokedResponse(BaseModel):
    status: str
    id: str


class WhoamiResponse(BaseModel):
    key_id: str
    name: str
    role: str
    tenant_id: str | None
    is_admin: bool


def key_info(row: ctl.KeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        permissions=row.role,
        tenant_id=row.tenant,
        is_admin=row.is_admin,
        created_at=rfc3339(row.created_at) or "",
        last_used_at=rfc3339(row.last_used_at),
        revoked=row.revoked,
    )


def _key_id(text: str) -> str:
    return uuid_param(text, "key")


async def _create(state: ServerState, body: CreateKeyRequest, tenant: str) -> KeyCreatedResponse:
    key = ctl.new_key()
    row = await trio.to_thread.run_sync(
        state.control.write,
        lambda c: ctl.insert_key(
            c,
            name=body.name,
            key_hash=ctl.hash_key(key),
            role=Role.parse(body.role).label,
            tenant=tenant,
            is_admin=False,
            now=ctl.utcnow(),
        ),
    )
    return KeyCreatedResponse(
        id=row.id,
        name=row.name,
        key=key,
        permissions=row.role,
        tenant_id=row.tenant,
        is_admin=False,
        created_at=rfc3339(row.created_at) or "",
    )


async def _list(state: ServerState, tenant: str | None) -> KeyList:
    rows = await reads.read(state.control, lambda c: ctl.list_keys(c, tenant=tenant))
    return KeyList(items=[key_info(r) for r in rows], total=len(rows))


async def _revoke(state: ServerState, key_id: str, tenant: str | None) -> KeyRevokedResponse:
    kid = _key_id(key_id)

    def revoke(conn: Connection) -> str:
        row = ctl.get_key(conn, kid)
        if row is None or row.revoked or (tenant is not None and row.tenant != tenant):
            return "missing"
        if row.is_admin and ctl.count_active_keys(conn, admin_only=True) <= 1:
            return "last_admin"
        ctl.revoke_key(conn, kid, ctl.utcnow())
        return "revoked"

    outcome = await trio.to_thread.run_sync(state.control.write, revoke)
    if outcome == "missing":
        raise ApiError(404, "key_not_found", f"no unrevoked key {kid}")
    if outcome == "last_admin":
        raise ApiError(
            409, "last_admin_key", "this is the last admin (is_admin) key; create another first"
        )
    state.auth_cache.clear()  # revocation is immediate
    return KeyRevokedResponse(status="revoked", id=kid)


@router.get("/v1/auth/whoami", operation_id="whoami", tags=["auth"])
async def whoami(principal: CurrentKey) -> WhoamiResponse:
    """The calling key: its id, name, role, tenant and admin flag."""
    return WhoamiResponse(
        key_id=principal.key_id,
        name=principal.name,
        role=principal.role.label,
        tenant_id=principal.tenant,
        is_admin=principal.is_admin,
    )


@router.get("/v1/auth/keys", operation_id="list_keys")
async def list_keys(request: Request) -> KeyList:
    """Every key of every tenant: metadata only, never hashes or plaintext."""
    return await _list(state_of(request), None)


@router.post("/v1/auth/keys", status_code=201, operation_id="create_key")
async def create_key(request: Request, body: CreateKeyRequest) -> KeyCreatedResponse:
    """A new key of the public tenant (default role ``read``); the plaintext is shown once."""
    return await _create(state_of(request), body, "public")


@router.delete("/v1/auth/keys/{key_id}", operation_id="revoke_key", responses=errors(400, 404, 409))
async def revoke_key(request: Request, key_id: str) -> KeyRevokedResponse:
    """Revoke a key; the auth cache is cleared so it fails on its next request."""
    return await _revoke(state_of(request), key_id, None)


@router.get("/v1/tenants/{tenant}/keys", operation_id="list_tenant_keys")
async def list_tenant_keys(request: Request, tenant: str) -> KeyList:
    """The keys of one tenant: metadata only."""
    return await _list(state_of(request), tenant)


@router.post("/v1/tenants/{tenant}/keys", status_code=201, operation_id="create_tenant_key")
async def create_tenant_key(
    request: Request, tenant: str, body: CreateKeyRequest
) -> KeyCreatedResponse:
    """A new key of this tenant (default role ``read``); the plaintext is shown once."""
    return await _create(state_of(request), body, tenant)


@router.delete(
    "/v1/tenants/{tenant}/keys/{key_id}",
    operation_id="revoke_tenant_key",
    responses=errors(400, 404, 409),
)
async def revoke_tenant_key(request: Request, tenant: str, key_id: str) -> KeyRevokedResponse:
    """Revoke one of this tenant's keys (another tenant's key is 404, never touched)."""
    return await _revoke(state_of(request), key_id, tenant)

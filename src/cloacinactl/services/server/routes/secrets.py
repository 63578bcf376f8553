"""Tenant secrets: ``/v1/tenants/{tenant}/secrets[/{name}]`` (tenant admin).

Values go in (create, rotate) and never come out: every answer is metadata
``{id, name, field_names, created_at, updated_at}``. Without a key-encryption
key (``CLOACINA_SECRET_KEK``) every route answers 503 ``secrets_not_configured``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import trio
from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import StrictBody, errors, rfc3339
from cloacinactl.services.server.state import state_of
from cloacinactl.store import secrets as sec

router = keyed_router("secrets")
T = TypeVar("T")

NOT_CONFIGURED = "secrets are not configured on this server: set CLOACINA_SECRET_KEK"


class CreateSecretRequest(StrictBody):
    name: str = Field(max_length=128, description="The secret's name (unique within the tenant).")
    fields: dict[str, str] = Field(description="The {field: value} map. Values are write-only.")


class RotateSecretRequest(StrictBody):
    fields: dict[str, str] = Field(description="The new {field: value} map. Values are write-only.")


class SecretMetadataResponse(BaseModel):
    """The only shape a read returns: names and timestamps, never a value."""

    id: str
    name: str
    field_names: list[str]
    created_at: str
    updated_at: str


class SecretList(BaseModel):
    items: list[SecretMetadataResponse]
    total: int
    tenant_id: str


class SecretDeletedResponse(BaseModel):
    status: str
    name: str


def vault_for(request: Request) -> sec.Vault:
    """This server's vault; 503 ``secrets_not_configured`` without a KEK."""
    kek = state_of(request).config.secret_kek
    if kek is None:
        raise ApiError(503, "secrets_not_configured", NOT_CONFIGURED)
    return sec.Vault(kek)


def _metadata(meta: sec.SecretMeta) -> SecretMetadataResponse:
    return SecretMetadataResponse(
        id=meta.id,
        name=meta.name,
        field_names=list(meta.field_names),
        created_at=rfc3339(meta.created_at) or "",
        updated_at=rfc3339(meta.updated_at) or "",
    )


async def _in_store(
    request: Request, tenant: str, fn: Callable[[Connection], T], *, write: bool
) -> T:
    """Run ``fn`` in the tenant's store; store errors become their envelopes."""
    store = state_of(request).tenant_store(tenant)
    try:
        return await trio.to_thread.run_sync(store.write if write else store.read, fn)
    except sec.SecretNotFound as exc:
        raise ApiError(404, exc.code, exc.message) from None
    except sec.SecretExists as exc:
        raise ApiError(409, exc.code, exc.message) from None
    except sec.SecretInvalid as exc:
        raise ApiError(400, exc.code, exc.message) from None
    except sec.SecretsLocked as exc:
        raise ApiError(503, exc.code, exc.message) from None


def _check_path_name(name: str) -> str:
    try:
        return sec.check_name(name)
    except sec.SecretInvalid:
        raise ApiError(
            404, "secret_not_found", "no such secret (not a valid secret name)"
        ) from None


@router.get("/v1/tenants/{tenant}/secrets", operation_id="list_secrets", responses=errors(503))
async def list_secrets(request: Request, tenant: str) -> SecretList:
    """Every secret of the tenant, by name: metadata only."""
    vault_for(request)
    rows = await _in_store(request, tenant, sec.list_secrets, write=False)
    return SecretList(items=[_metadata(m) for m in rows], total=len(rows), tenant_id=tenant)


@router.post(
    "/v1/tenants/{tenant}/secrets",
    status_code=201,
    operation_id="create_secret",
    responses=errors(409, 503),
)
async def create_secret(
    request: Request, tenant: str, body: CreateSecretRequest
) -> SecretMetadataResponse:
    """Seal a new secret's fields; 409 ``secret_exists`` when the name is taken."""
    vault = vault_for(request)
    meta = await _in_store(
        request, tenant, lambda c: vault.create(c, tenant, body.name, body.fields), write=True
    )
    return _metadata(meta)


@router.get("/v1/tenants/{tenant}/secrets/{name}", operation_id="get_secret", responses=errors(503))
async def get_secret(request: Request, tenant: str, name: str) -> SecretMetadataResponse:
    """One secret's metadata."""
    vault_for(request)
    name = _check_path_name(name)
    return _metadata(
        await _in_store(request, tenant, lambda c: sec.get_secret(c, name), write=False)
    )


@router.put(
    "/v1/tenants/{tenant}/secrets/{name}", operation_id="rotate_secret", responses=errors(503)
)
async def rotate_secret(
    request: Request, tenant: str, name: str, body: RotateSecretRequest
) -> SecretMetadataResponse:
    """Replace the fields in place; the next task that reads the secret sees them."""
    vault = vault_for(request)
    name = _check_path_name(name)
    meta = await _in_store(
        request, tenant, lambda c: vault.rotate(c, tenant, name, body.fields), write=True
    )
    return _metadata(meta)


@router.delete(
    "/v1/tenants/{tenant}/secrets/{name}", operation_id="delete_secret", responses=errors(503)
)
async def delete_secret(request: Request, tenant: str, name: str) -> SecretDeletedResponse:
    """Delete the secret; runs bound to it fail their tasks from now on."""
    vault_for(request)
    name = _check_path_name(name)
    await _in_store(request, tenant, lambda c: sec.delete_secret(c, name), write=True)
    return SecretDeletedResponse(status="deleted", name=name)

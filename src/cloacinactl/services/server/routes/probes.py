"""Probes: ``/health`` (liveness, no database), ``/ready``, ``/metrics``, ``/v1/health/status``."""

from __future__ import annotations

import time
from typing import Any

import trio
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from cloacinactl import __version__
from cloacinactl.services.common import runtime_status
from cloacinactl.services.dbcheck import DbCheck, check_database
from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.metrics import CONTENT_TYPE
from cloacinactl.services.server.models import errors
from cloacinactl.services.server.state import ServerState, state_of

router = keyed_router("operational")


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str


class NotReady(BaseModel):
    status: str
    reason: str
    error: str
    code: str


async def check_db(state: ServerState) -> DbCheck:
    url = state.control.base_url
    return await trio.to_thread.run_sync(check_database, url, state.config.db_check_timeout_s)


@router.get("/health", operation_id="health")
async def health() -> Health:
    """Liveness: the process answers (no database, no key)."""
    return Health(status="ok")


@router.get(
    "/ready",
    operation_id="ready",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "Not ready: `reason` says why"}},
)
async def ready(request: Request) -> Ready | JSONResponse:
    """Readiness: the database answers."""
    db = await check_db(state_of(request))
    if not db.connected:
        reason = f"database unreachable: {db.error}"
        body = NotReady(
            status="not ready", reason=reason, error=reason, code="database_unreachable"
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Ready(status="ready")


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of the ``cloacina_*`` families."""
    return Response(state_of(request).metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/v1/health/status", operation_id="server_status", responses=errors(503))
async def status(request: Request) -> dict[str, Any]:
    """Version, uptime, the database and its state, the tenants this server runs."""
    state = state_of(request)
    db = await check_db(state)
    url = state.control.base_url
    extra: dict[str, Any] = {}
    if state.config.runtime is not None:
        extra.update(runtime_status(state.config.rt))
    else:
        extra["version"] = __version__
    for provider in state.status_providers:
        extra.update(await provider())
    return {
        "status": "healthy" if db.connected else "unhealthy",
        "uptime_seconds": round(time.monotonic() - state.started, 3),
        "address": state.address,
        "database": {
            "connected": db.connected,
            "backend": db.backend,
            "url": url.redacted,
            **({"error": db.error} if db.error else {}),
        },
        "tenants": len(state.stores),
        "require_signatures": state.config.require_signatures,
        "reconcile_interval_s": state.config.reconcile_interval_s,
        **extra,
    }

"""``GET /v1/compiler/status``: the build pipeline as the database records it.

Read from the rows themselves (every tenant's build queue, the compilers'
heartbeats in the main store), so it needs no connection to a compiler and
reports what is true even when none runs: ``alive: false``, ``heartbeat_at:
null``, and a queue that only grows.
"""

from __future__ import annotations

from typing import Any

import trio
from fastapi import Request
from pydantic import BaseModel

from cloacinactl.services.server.auth import keyed_router
from cloacinactl.services.server.state import state_of
from cloacinactl.store import builds, buildwatch
from cloacinactl.store import control as ctl

router = keyed_router("compiler")


class CompilerStatus(BaseModel):
    status: str
    pending: int
    building: int
    last_success_at: str | None
    last_failure_at: str | None
    seconds_since_heartbeat: int | None
    heartbeat_at: str | None
    alive: bool


@router.get("/v1/compiler/status", operation_id="compiler_status")
async def compiler_status(request: Request) -> CompilerStatus:
    """Pending and building packages across tenants, latest outcomes, compiler liveness."""
    state = state_of(request)

    def collect() -> dict[str, Any]:
        counts = builds.QueueCounts()
        for store in list(state.stores.values()):
            counts = counts + store.read(builds.queue_counts)
        now = ctl.utcnow()
        heartbeat, alive = state.control.read(
            lambda c: (buildwatch.last_heartbeat(c), buildwatch.compiler_alive(c, now))
        )
        return {**builds.status_document(counts, heartbeat, now), "alive": alive}

    return CompilerStatus(**await trio.to_thread.run_sync(collect))

"""Computation-graph health and feeding: ``/v1/health/{graphs,accumulators,reactors}``.

Each tenant's graphs run in that tenant's ``GraphRuntime`` (beside its
engine). A key sees its own tenant's graphs; an ``is_admin`` key sees every
tenant's. A name another tenant holds answers 404, as a name nobody holds
does, so names cannot be probed across tenants.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field

from cloacinactl.engine.graphs import GraphInputError, GraphNotFoundError, GraphRuntime
from cloacinactl.services.server.auth import CurrentKey, Principal, keyed_router
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.models import StrictBody, errors
from cloacinactl.services.server.state import state_of

router = keyed_router("graph-health")


class ItemList(BaseModel):
    items: list[dict[str, Any]]
    total: int


class InjectRequest(StrictBody):
    event: Any = Field(..., description="The event (any JSON) to push to the accumulator.")


class InjectResponse(BaseModel):
    accumulator: str
    delivered: int


class FireRequest(StrictBody):
    mode: Literal["force_fire", "fire_with"] = "force_fire"
    inputs: dict[str, Any] | None = None


class FireResponse(BaseModel):
    reactor: str
    mode: Literal["force_fire", "fire_with"]
    sources_injected: list[str]


def _runtimes(request: Request, principal: Principal | None) -> list[GraphRuntime]:
    """The graph runtimes this caller may see (own tenant; all for is_admin)."""
    state = state_of(request)
    found: list[GraphRuntime] = []
    for listener in state.tenant_listeners:
        tenants = getattr(listener, "tenants", None)
        if not isinstance(tenants, dict):
            continue
        for name, tenant in sorted(tenants.items()):
            graphs = getattr(tenant, "graphs", None)
            if not isinstance(graphs, GraphRuntime):
                continue
            if principal is None or principal.is_admin or principal.tenant == name:
                found.append(graphs)
    return found


def _listed(rows: list[dict[str, Any]]) -> ItemList:
    return ItemList(items=rows, total=len(rows))


def _find(request: Request, principal: Principal, lookup: Any) -> tuple[GraphRuntime, Any]:
    last: GraphNotFoundError | None = None
    for runtime in _runtimes(request, principal):
        try:
            return runtime, lookup(runtime)
        except GraphNotFoundError as exc:
            last = exc
    raise ApiError(404, "not_found", last.message if last else "no computation graphs loaded")


def _bad(exc: GraphInputError) -> ApiError:
    return ApiError(400, "invalid_event", exc.message)


@router.get("/v1/health/graphs", operation_id="list_graphs")
async def list_graphs(request: Request, principal: CurrentKey) -> ItemList:
    """Loaded computation graphs with health and their reactor's pause state."""
    return _listed([g for r in _runtimes(request, principal) for g in r.graphs()])


@router.get("/v1/health/graphs/{name}", operation_id="get_graph", responses=errors(404))
async def get_graph(name: str, request: Request, principal: CurrentKey) -> dict[str, Any]:
    """One graph: health, accumulators, reactor pause state, topology."""
    _runtime, body = _find(request, principal, lambda r: r.graph(name))
    return dict(body)


@router.get("/v1/health/accumulators", operation_id="list_accumulators")
async def list_accumulators(request: Request, principal: CurrentKey) -> ItemList:
    """Every accumulator of every loaded graph, with its counters and buffer."""
    return _listed([a for r in _runtimes(request, principal) for a in r.accumulators()])


@router.get("/v1/health/reactors", operation_id="list_reactors")
async def list_reactors(request: Request, principal: CurrentKey) -> ItemList:
    """Loaded reactors, including those no graph is bound to."""
    return _listed([x for r in _runtimes(request, principal) for x in r.reactors()])


@router.get(
    "/v1/health/reactors/{name}/fires", operation_id="list_reactor_fires", responses=errors(404)
)
async def list_reactor_fires(name: str, request: Request, principal: CurrentKey) -> ItemList:
    """Recent fires, newest first: inputs, path, outputs, duration, error."""
    runtime, _ = _find(request, principal, lambda r: r.runner(name))
    return _listed(await runtime.fires(name))


@router.get(
    "/v1/health/accumulators/{name}/interface",
    operation_id="get_accumulator_interface",
    responses=errors(404),
)
async def get_accumulator_interface(
    name: str, request: Request, principal: CurrentKey
) -> dict[str, Any]:
    """The one slot an inject supplies: the accumulator's boundary schema (``{}``: any)."""
    _runtime, body = _find(request, principal, lambda r: r.interface("accumulator", name))
    return dict(body)


@router.get(
    "/v1/health/reactors/{name}/interface",
    operation_id="get_reactor_interface",
    responses=errors(404),
)
async def get_reactor_interface(
    name: str, request: Request, principal: CurrentKey
) -> dict[str, Any]:
    """The per-accumulator slots a ``fire_with`` supplies."""
    _runtime, body = _find(request, principal, lambda r: r.interface("reactor", name))
    return dict(body)


@router.post(
    "/v1/health/accumulators/{name}/inject",
    operation_id="inject_accumulator",
    responses=errors(404),
)
async def inject_accumulator(
    name: str, body: InjectRequest, request: Request, principal: CurrentKey
) -> InjectResponse:
    """Push one event into an accumulator (not a polling one); it is durable when this
    answers. An event that does not match the accumulator's boundary schema is a 400
    naming the field."""
    runtime, _ = _find(request, principal, lambda r: r.accumulator(name))
    try:
        delivered = await runtime.inject(name, body.event)
    except GraphInputError as exc:
        raise _bad(exc) from None
    return InjectResponse(accumulator=name, delivered=delivered)


@router.post("/v1/health/reactors/{name}/fire", operation_id="fire_reactor", responses=errors(404))
async def fire_reactor(
    name: str, body: FireRequest, request: Request, principal: CurrentKey
) -> FireResponse:
    """Fire a reactor by hand: ``force_fire`` with its current inputs, or ``fire_with``
    replacing them with ``inputs`` (per accumulator) first."""
    runtime, _ = _find(request, principal, lambda r: r.runner(name))
    try:
        injected = await runtime.fire(name, body.mode, body.inputs)
    except GraphInputError as exc:
        raise _bad(exc) from None
    return FireResponse(reactor=name, mode=body.mode, sources_injected=injected)


async def _set_paused(name: str, request: Request, principal: Principal, paused: bool) -> Any:
    runtime, _ = _find(request, principal, lambda r: r.runner(name))
    await runtime.set_paused(name, paused)
    return next(x for x in runtime.reactors() if x["name"] == name)


@router.post(
    "/v1/health/reactors/{name}/pause", operation_id="pause_reactor", responses=errors(404)
)
async def pause_reactor(name: str, request: Request, principal: CurrentKey) -> dict[str, Any]:
    """Stop firing; accepted events wait, durable, until resumed."""
    return dict(await _set_paused(name, request, principal, True))


@router.post(
    "/v1/health/reactors/{name}/resume", operation_id="resume_reactor", responses=errors(404)
)
async def resume_reactor(name: str, request: Request, principal: CurrentKey) -> dict[str, Any]:
    """Fire again (also clears a ``crashed`` state)."""
    return dict(await _set_paused(name, request, principal, False))

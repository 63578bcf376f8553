"""Health rows in the upstream server's shapes (``GraphStatus``, ``ReactorStatus``,
``AccumulatorStatus``), built from what the runners hold (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloacinactl.workflow.graphs.model import AccumulatorDef, ReactorDef

if TYPE_CHECKING:
    from cloacinactl.engine.graphs.runner import ReactorRunner


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _health(runner: ReactorRunner) -> dict[str, Any]:
    return {
        "state": runner.state_label,
        "reason": runner.crashed,
        "failures": runner.failures,
        "consecutive_crashes": runner.consecutive_crashes,
    }


def graph_status(runner: ReactorRunner, tenant: str | None) -> dict[str, Any]:
    graph = runner.graph
    assert graph is not None
    return {
        "name": graph.name,
        "health": _health(runner),
        "accumulators": list(runner.reactor.accumulators),
        "paused": runner.paused,
        "fires": runner.fires,
        "failures": runner.failures,
        "reactor": runner.reactor.name,
        "reaction_mode": runner.reactor.mode,
        "input_strategy": runner.reactor.input_strategy,
        "last_fired_at": _iso(runner.last_fired_at),
        "source_package": None,
        "topology": graph.topology(),
        "tenant_id": tenant,
    }


def reactor_status(runner: ReactorRunner | None, unbound: ReactorDef | None) -> dict[str, Any]:
    if runner is None:
        assert unbound is not None
        return {
            "name": unbound.name,
            "health": {"state": "unbound"},
            "accumulators": list(unbound.accumulators),
            "bound_graphs": [],
            "fires": 0,
            "paused": False,
            "reaction_mode": unbound.mode,
            "input_strategy": unbound.input_strategy,
            "last_fired_at": None,
        }
    return {
        "name": runner.reactor.name,
        "health": _health(runner),
        "accumulators": list(runner.reactor.accumulators),
        "bound_graphs": [] if runner.graph is None else [runner.graph.name],
        "fires": runner.fires,
        "paused": runner.paused,
        "reaction_mode": runner.reactor.mode,
        "input_strategy": runner.reactor.input_strategy,
        "last_fired_at": _iso(runner.last_fired_at),
    }


def accumulator_status(
    acc: AccumulatorDef, feeding: list[ReactorRunner], tenant: str | None
) -> dict[str, Any]:
    totals = {"events_total": 0, "operator_injects": 0, "errors": 0}
    last_event: str | None = None
    last_inject: str | None = None
    last_error: str | None = None
    depth: int | None = None
    for runner in feeding:
        stats = runner.acc_stats(acc.name)
        for key in totals:
            totals[key] += int(stats.get(key) or 0)
        last_event = max(filter(None, (last_event, stats.get("last_event_at"))), default=None)
        last_inject = max(
            filter(None, (last_inject, stats.get("last_operator_inject_at"))), default=None
        )
        last_error = stats.get("last_error") or last_error
        found = runner.core.buffer_depth(acc.name)
        depth = found if depth is None else max(depth, found or 0)
    state = "live" if feeding else "unbound"
    return {
        "name": acc.name,
        "status": {
            "state": state,
            "kind": acc.kind,
            "injectable": acc.injectable,
            "schema": None if acc.schema is None else dict(acc.schema),
            "errors": totals["errors"],
        },
        "state": state,
        "kind": acc.kind,
        "reactor": feeding[0].reactor.name if feeding else None,
        "buffer_capacity": acc.buffer_capacity,
        "buffer_depth": depth,
        "error": last_error,
        "events_total": totals["events_total"],
        "last_event_at": last_event,
        "operator_injects": totals["operator_injects"],
        "last_operator_inject_at": last_inject,
        "tenant_id": tenant,
    }


_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}


def input_slot(acc: AccumulatorDef) -> dict[str, Any]:
    """Upstream's ``InputSlot`` for one accumulator: its boundary schema as JSON Schema
    (``{}`` when it declares none: any JSON)."""
    schema: dict[str, Any] = {}
    if acc.schema is not None:
        schema = {
            "type": "object",
            "properties": {
                name: ({"type": _JSON_TYPES[kind]} if kind in _JSON_TYPES else {})
                for name, kind in acc.schema
            },
            "required": [name for name, _ in acc.schema],
        }
    return {"name": acc.name, "schema": schema, "required": True, "encrypted": False}

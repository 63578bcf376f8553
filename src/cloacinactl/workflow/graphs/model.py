"""Computation graphs as plain data: accumulators, reactors, graphs (pure, no I/O).

An accumulator turns incoming events into boundary values; a reactor watches
a set of accumulators and fires its graph when any (``when_any``) or all
(``when_all``) have new values, handing it the latest value per accumulator
(``latest``) or every boundary in order (``sequential``); a graph is a fixed
DAG of nodes. These definitions travel as JSON between a worker (which imports
the package) and the service (which runs the reactor).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloacinactl.workflow.model import ModelError

ACCUMULATOR_KINDS = ("passthrough", "state", "batch", "polling")
REACTION_MODES = ("when_any", "when_all")
INPUT_STRATEGIES = ("latest", "sequential")
SCHEMA_TYPES = ("str", "int", "float", "bool", "list", "dict", "any")


class GraphError(ModelError):
    """A graph declaration is invalid; the message names the graph and the part."""


@dataclass(frozen=True)
class AccumulatorDef:
    """One accumulator. ``capacity``: state window (negative unbounded, 0 a sink);
    ``flush_interval_ms``/``max_buffer_size``: batch; ``interval_ms``: polling."""

    name: str
    kind: str
    module: str = ""
    qualname: str = ""
    capacity: int | None = None
    flush_interval_ms: int | None = None
    max_buffer_size: int | None = None
    interval_ms: int | None = None
    schema: tuple[tuple[str, str], ...] | None = None  # boundary_schema: (field, type)

    @property
    def injectable(self) -> bool:
        return self.kind != "polling"

    @property
    def buffer_capacity(self) -> int | None:
        if self.kind == "state" and self.capacity is not None and self.capacity >= 0:
            return self.capacity
        if self.kind == "batch":
            return self.max_buffer_size
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "module": self.module,
            "qualname": self.qualname,
            "capacity": self.capacity,
            "flush_interval_ms": self.flush_interval_ms,
            "max_buffer_size": self.max_buffer_size,
            "interval_ms": self.interval_ms,
            "schema": None if self.schema is None else dict(self.schema),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccumulatorDef:
        schema = data.get("schema")
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            module=str(data.get("module", "")),
            qualname=str(data.get("qualname", "")),
            capacity=data.get("capacity"),
            flush_interval_ms=data.get("flush_interval_ms"),
            max_buffer_size=data.get("max_buffer_size"),
            interval_ms=data.get("interval_ms"),
            schema=None if schema is None else tuple((str(k), str(v)) for k, v in schema.items()),
        )


@dataclass(frozen=True)
class ReactorDef:
    name: str
    accumulators: tuple[str, ...]
    mode: str = "when_any"
    input_strategy: str = "latest"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accumulators": list(self.accumulators),
            "mode": self.mode,
            "input_strategy": self.input_strategy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReactorDef:
        return cls(
            name=str(data["name"]),
            accumulators=tuple(str(a) for a in data["accumulators"]),
            mode=str(data.get("mode", "when_any")),
            input_strategy=str(data.get("input_strategy", "latest")),
        )


@dataclass(frozen=True)
class NodeDef:
    """One node: ``inputs`` names accumulators (an entry node) or nodes (fan-in);
    ``next`` are linear successors; ``routes`` maps a variant to its successor."""

    id: str
    inputs: tuple[str, ...] = ()
    next: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()
    module: str = ""
    qualname: str = ""

    def successors(self) -> list[str]:
        return [*self.next, *(target for _, target in self.routes)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inputs": list(self.inputs),
            "next": list(self.next),
            "routes": dict(self.routes),
            "module": self.module,
            "qualname": self.qualname,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeDef:
        return cls(
            id=str(data["id"]),
            inputs=tuple(str(i) for i in data.get("inputs", ())),
            next=tuple(str(n) for n in data.get("next", ())),
            routes=tuple((str(k), str(v)) for k, v in dict(data.get("routes", {})).items()),
            module=str(data.get("module", "")),
            qualname=str(data.get("qualname", "")),
        )


@dataclass(frozen=True)
class GraphDef:
    """A validated graph: nodes in a topological order."""

    name: str
    nodes: tuple[NodeDef, ...]
    reactor: ReactorDef | None = None
    description: str | None = None
    order: tuple[str, ...] = field(default=())

    def node(self, node_id: str) -> NodeDef:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def accumulator_inputs(self) -> list[str]:
        ids = {n.id for n in self.nodes}
        seen: dict[str, None] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name not in ids:
                    seen.setdefault(name)
        return list(seen)

    def topology(self) -> dict[str, Any]:
        """The upstream ``GraphTopology`` shape: nodes with their accumulator inputs, edges."""
        ids = {n.id for n in self.nodes}
        nodes = [{"id": n.id, "inputs": [i for i in n.inputs if i not in ids]} for n in self.nodes]
        edges: list[dict[str, Any]] = []
        for n in self.nodes:
            edges.extend({"from": i, "to": n.id, "label": None} for i in n.inputs if i in ids)
            edges.extend({"from": n.id, "to": t, "label": None} for t in n.next)
            edges.extend({"from": n.id, "to": t, "label": v} for v, t in n.routes)
        return {"nodes": nodes, "edges": edges}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": [n.to_dict() for n in self.nodes],
            "reactor": None if self.reactor is None else self.reactor.to_dict(),
            "description": self.description,
            "order": list(self.order),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphDef:
        reactor = data.get("reactor")
        return cls(
            name=str(data["name"]),
            nodes=tuple(NodeDef.from_dict(n) for n in data["nodes"]),
            reactor=None if reactor is None else ReactorDef.from_dict(reactor),
            description=data.get("description"),
            order=tuple(str(o) for o in data.get("order", ())),
        )


def check_reactor(reactor: ReactorDef) -> None:
    if not reactor.name:
        raise GraphError("a reactor needs a non-empty name")
    if not reactor.accumulators:
        raise GraphError(f"reactor {reactor.name!r} watches no accumulators")
    if len(set(reactor.accumulators)) != len(reactor.accumulators):
        raise GraphError(f"reactor {reactor.name!r} lists an accumulator twice")
    if reactor.mode not in REACTION_MODES:
        raise GraphError(
            f"reactor {reactor.name!r}: mode must be one of {', '.join(REACTION_MODES)},"
            f" not {reactor.mode!r}"
        )
    if reactor.input_strategy not in INPUT_STRATEGIES:
        raise GraphError(
            f"reactor {reactor.name!r}: input_strategy must be one of"
            f" {', '.join(INPUT_STRATEGIES)}, not {reactor.input_strategy!r}"
        )


def build_graph(
    name: str,
    nodes: Iterable[NodeDef],
    *,
    functions: Iterable[str],
    reactor: ReactorDef | None = None,
    description: str | None = None,
) -> GraphDef:
    """Check the topology both ways and return the graph with its node order.

    Every node in the topology has a function and every function is in the
    topology; an input is a node or one of the reactor's accumulators; routes
    and ``next`` name nodes; no cycles.
    """
    listed = list(nodes)
    where = f"graph {name!r}"
    ids = _check_functions(where, listed, list(functions))
    id_set = set(ids)
    if reactor is not None:
        check_reactor(reactor)
    for node in listed:
        for source in node.inputs:
            if source in id_set:
                continue
            if reactor is None:
                continue  # a graph without a reactor takes any input name
            if source not in reactor.accumulators:
                raise GraphError(
                    f"{where}: node {node.id!r} reads {source!r}, which is neither a node nor"
                    f" an accumulator of reactor {reactor.name!r}"
                    f" ({', '.join(reactor.accumulators)})"
                )
        for target in node.next:
            if target not in id_set:
                raise GraphError(f"{where}: node {node.id!r} continues to unknown node {target!r}")
        for variant, target in node.routes:
            if target not in id_set:
                raise GraphError(
                    f"{where}: node {node.id!r} routes {variant!r} to unknown node {target!r}"
                )
    order = _topological_order(where, listed)
    graph = GraphDef(name, tuple(listed), reactor, description, tuple(order))
    if reactor is not None:
        unused = [a for a in reactor.accumulators if a not in graph.accumulator_inputs()]
        if unused and not graph.accumulator_inputs():
            raise GraphError(f"{where}: no node reads any accumulator of reactor {reactor.name!r}")
    return graph


def _check_functions(where: str, listed: list[NodeDef], declared: list[str]) -> list[str]:
    """The node ids: each once, each with a function, and no function left over."""
    if not listed:
        raise GraphError(f"{where}: the topology has no nodes")
    ids = [n.id for n in listed]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise GraphError(f"{where}: node {dupes[0]!r} appears twice in the topology")
    missing = [i for i in ids if i not in declared]
    if missing:
        raise GraphError(
            f"{where}: node {missing[0]!r} is in the topology but no @cloaca.node"
            " function has that name"
        )
    extra = [f for f in declared if f not in ids]
    if extra:
        raise GraphError(
            f"{where}: @cloaca.node function {extra[0]!r} is not in the topology"
            " (add it to graph= or remove it)"
        )
    return ids


def _topological_order(where: str, nodes: list[NodeDef]) -> list[str]:
    ids = {n.id for n in nodes}
    preds: dict[str, set[str]] = {n.id: set() for n in nodes}
    for node in nodes:
        for source in node.inputs:
            if source in ids:
                preds[node.id].add(source)
        for target in node.successors():
            preds[target].add(node.id)
    order: list[str] = []
    ready = [n.id for n in nodes if not preds[n.id]]
    remaining = {k: set(v) for k, v in preds.items()}
    while ready:
        current = ready.pop(0)
        order.append(current)
        for other in (n.id for n in nodes):
            if current in remaining[other]:
                remaining[other].discard(current)
                if not remaining[other] and other not in order and other not in ready:
                    ready.append(other)
    if len(order) != len(nodes):
        stuck = sorted(i for i in ids if i not in order)
        raise GraphError(f"{where}: the topology has a cycle through {', '.join(stuck)}")
    return order


_CHECKS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def schema_problem(acc: AccumulatorDef, event: Any) -> str | None:
    """Why ``event`` does not match the accumulator's boundary schema (None: it does)."""
    if acc.schema is None:
        return None
    if not isinstance(event, dict):
        return f"accumulator {acc.name!r} expects an object, got {type(event).__name__}"
    for name, kind in acc.schema:
        if name not in event:
            return f"field {name!r} is missing (accumulator {acc.name!r} expects {kind})"
        value = event[name]
        wanted = _CHECKS.get(kind)
        if wanted is None:
            continue
        bad_bool = isinstance(value, bool) and kind in ("int", "float")
        if bad_bool or not isinstance(value, wanted):
            return (
                f"field {name!r} must be {kind}, got {type(value).__name__}"
                f" (accumulator {acc.name!r})"
            )
    return None

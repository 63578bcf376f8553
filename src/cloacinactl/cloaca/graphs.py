"""Computation-graph authoring: ``reactor``, ``ComputationGraphBuilder`` and ``node``
(accumulators are in :mod:`cloacinactl.cloaca.accumulators`).

Declarations validate at import time and register into the collection the
loader is importing (see :mod:`cloacinactl.cloaca.registry`); outside a
loader they still work, and ``builder.execute(inputs)`` runs the graph in this
process (what upstream's tutorials do)::

    @cloaca.passthrough_accumulator
    def pricing(event):
        return event

    @cloaca.reactor(name="prices", accumulators=["pricing"], mode="when_any")
    class Prices: ...

    with cloaca.ComputationGraphBuilder(
        "pricing_graph", reactor=Prices,
        graph={"ingest": {"inputs": ["pricing"], "next": "report"}, "report": {}},
    ):
        @cloaca.node
        def ingest(pricing): ...

        @cloaca.node
        def report(ingest): ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from types import TracebackType
from typing import Any, TypeVar

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.cloaca.graphset import GraphSet, GraphSpec, graph_set
from cloacinactl.workflow.graphs.execute import run_graph
from cloacinactl.workflow.graphs.model import (
    GraphDef,
    GraphError,
    NodeDef,
    ReactorDef,
    build_graph,
    check_reactor,
)

F = TypeVar("F", bound=Callable[..., Any])
REACTOR_ATTR = "__cloaca_reactor__"
_TOPOLOGY_KEYS = frozenset({"inputs", "next", "target", "routes"})


# -- reactors


def reactor(
    *,
    name: str,
    accumulators: list[str] | tuple[str, ...],
    mode: str = "when_any",
    input_strategy: str | None = None,
) -> Callable[[Any], Any]:
    """Declare a reactor (upstream decorates an empty class with it)."""
    definition = _reactor_def(name, accumulators, mode, input_strategy)

    def decorate(obj: Any) -> Any:
        found = graph_set()
        if found is not None:
            found.add_reactor(definition, input_strategy is not None)
        try:
            setattr(obj, REACTOR_ATTR, (definition, input_strategy is not None))
        except (AttributeError, TypeError):
            raise CloacaError(f"@cloaca.reactor cannot annotate {obj!r}; use a class") from None
        return obj

    return decorate


def _reactor_def(name: Any, accumulators: Any, mode: Any, strategy: Any) -> ReactorDef:
    if isinstance(accumulators, str) or not isinstance(accumulators, (list, tuple)):
        raise CloacaError(f"reactor {name!r}: accumulators must be a list of names")
    definition = ReactorDef(
        name=str(name) if isinstance(name, str) else "",
        accumulators=tuple(str(a) for a in accumulators),
        mode=str(mode),
        input_strategy=str(strategy or "latest"),
    )
    try:
        check_reactor(definition)
    except GraphError as exc:
        raise CloacaError(str(exc)) from None
    return definition


# -- graphs

_BUILDERS: ContextVar[tuple[ComputationGraphBuilder, ...]] = ContextVar(
    "cloaca_graph_builders", default=()
)


def node(func: Any = None, /, *, name: str | None = None) -> Any:
    """Declare a node of the graph being built (inside ``with ComputationGraphBuilder``)."""

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise CloacaError(f"@cloaca.node decorates a function, got {fn!r}")
        node_id = name if name is not None else getattr(fn, "__name__", None)
        if not isinstance(node_id, str) or not node_id:
            raise CloacaError(f"node name must be a non-empty string, got {node_id!r}")
        stack = _BUILDERS.get()
        if not stack:
            raise CloacaError(
                f"@cloaca.node {node_id!r} is outside a 'with ComputationGraphBuilder(...)' block"
            )
        stack[-1]._add_node(node_id, fn)
        return fn

    if func is not None:
        return decorate(func)
    return decorate


def _names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise CloacaError(f"{where} must be a node name or a list of names, got {value!r}")


def parse_topology(graph: str, topology: Any) -> list[NodeDef]:
    """``{"node": {"inputs": [...], "next": ..., "routes": {variant: node}}}`` → nodes."""
    if not isinstance(topology, Mapping) or not topology:
        raise CloacaError(f"graph {graph!r}: graph= must be a non-empty dict of node → spec")
    nodes: list[NodeDef] = []
    for node_id, spec in topology.items():
        where = f"graph {graph!r}: node {node_id!r}"
        if not isinstance(node_id, str) or not node_id:
            raise CloacaError(f"graph {graph!r}: node names must be non-empty strings")
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            raise CloacaError(f"{where}: its spec must be a dict, got {spec!r}")
        unknown = sorted(set(spec) - _TOPOLOGY_KEYS)
        if unknown:
            raise CloacaError(
                f"{where}: unknown key {unknown[0]!r} (allowed: inputs, next, target, routes)"
            )
        routes = spec.get("routes") or {}
        if not isinstance(routes, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in routes.items()
        ):
            raise CloacaError(f"{where}: routes must map variant names to node names")
        nxt = _names(spec.get("next"), f"{where}: next") + _names(
            spec.get("target"), f"{where}: target"
        )
        if routes and nxt:
            raise CloacaError(f"{where}: a routing node has routes, not next/target")
        nodes.append(
            NodeDef(
                id=node_id,
                inputs=_names(spec.get("inputs"), f"{where}: inputs"),
                next=nxt,
                routes=tuple(routes.items()),
            )
        )
    return nodes


class ComputationGraphBuilder:
    """Declare a computation graph; ``@cloaca.node`` functions inside the ``with``
    block are its nodes. On a clean exit the topology is checked both ways and
    the graph registered. ``reactor=`` a ``@cloaca.reactor`` class (or ``react=
    {"mode": ..., "accumulators": [...]}``, a reactor named after the graph);
    no reactor: the graph is invoked from a task or directly."""

    def __init__(
        self,
        name: str,
        *,
        graph: Mapping[str, Any],
        reactor: Any = None,
        react: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise CloacaError(f"ComputationGraphBuilder needs a non-empty name, got {name!r}")
        self.name = name
        self._nodes = parse_topology(name, graph)
        self._reactor, self._explicit = self._resolve_reactor(reactor, react)
        self._description = description
        self._functions: dict[str, Callable[..., Any]] = {}
        self._token: Any = None
        self.graph: GraphDef | None = None

    def _resolve_reactor(self, reactor: Any, react: Any) -> tuple[ReactorDef | None, bool]:
        if reactor is not None and react is not None:
            raise CloacaError(f"graph {self.name!r}: give reactor= or react=, not both")
        if react is not None:
            if not isinstance(react, Mapping):
                raise CloacaError(f"graph {self.name!r}: react= must be a dict")
            strategy = react.get("input_strategy")
            return (
                _reactor_def(
                    react.get("name", self.name),
                    react.get("accumulators"),
                    react.get("mode", "when_any"),
                    strategy,
                ),
                strategy is not None,
            )
        if reactor is None:
            return None, False
        if isinstance(reactor, ReactorDef):
            return reactor, True
        held = getattr(reactor, REACTOR_ATTR, None)
        if held is None:
            raise CloacaError(
                f"graph {self.name!r}: reactor= takes a @cloaca.reactor class, got {reactor!r}"
            )
        definition, explicit = held
        return definition, bool(explicit)

    def _add_node(self, node_id: str, fn: Callable[..., Any]) -> None:
        if node_id in self._functions:
            raise CloacaError(f"graph {self.name!r}: node {node_id!r} is defined twice")
        self._functions[node_id] = fn

    def build(self) -> GraphDef:
        try:
            built = build_graph(
                self.name,
                self._nodes,
                functions=self._functions,
                reactor=self._reactor,
                description=self._description,
            )
        except GraphError as exc:
            raise CloacaError(str(exc)) from None
        nodes = tuple(
            replace(
                n,
                module=str(getattr(self._functions[n.id], "__module__", "") or ""),
                qualname=str(getattr(self._functions[n.id], "__qualname__", n.id)),
            )
            for n in built.nodes
        )
        self.graph = replace(built, nodes=nodes)
        return self.graph

    def execute(self, inputs: Mapping[str, Any] | None = None) -> Any:
        """Run the graph once in this process; the terminal output (a dict of
        them when several terminal nodes ran)."""
        graph = self.graph if self.graph is not None else self.build()
        result = run_graph(graph, lambda n, args: self._functions[n](*args), inputs or {})
        if len(result.outputs) == 1:
            return next(iter(result.outputs.values()))
        return result.outputs

    def __enter__(self) -> ComputationGraphBuilder:
        self._token = _BUILDERS.set((*_BUILDERS.get(), self))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        _BUILDERS.reset(token)
        if exc_type is not None:
            return
        graph = self.build()
        found = graph_set()
        if found is not None:
            if graph.reactor is not None:
                found.add_reactor(graph.reactor, self._explicit)
            found.add_graph(GraphSpec(graph, dict(self._functions), self._explicit))


__all__ = ["ComputationGraphBuilder", "GraphSet", "graph_set", "node", "reactor"]

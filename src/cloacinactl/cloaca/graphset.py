"""What one package declared for computation graphs (``GraphSet``), kept on the
loader's collection; cross-checked against the manifest once the import is done."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cloacinactl.cloaca import registry
from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.workflow.graphs.model import (
    AccumulatorDef,
    GraphDef,
    GraphError,
    ReactorDef,
    check_reactor,
)


@dataclass
class AccumulatorSpec:
    definition: AccumulatorDef
    function: Callable[..., Any]


@dataclass
class GraphSpec:
    definition: GraphDef
    functions: dict[str, Callable[..., Any]]
    explicit_strategy: bool = False


@dataclass
class GraphSet:
    """Every accumulator, reactor and graph one package declared."""

    accumulators: dict[str, AccumulatorSpec] = field(default_factory=dict)
    reactors: dict[str, tuple[ReactorDef, bool]] = field(default_factory=dict)
    graphs: dict[str, GraphSpec] = field(default_factory=dict)
    invocations: list[tuple[str, str]] = field(default_factory=list)  # (task, graph)

    def add_accumulator(self, spec: AccumulatorSpec) -> None:
        name = spec.definition.name
        if name in self.accumulators and self.accumulators[name] is not spec:
            raise CloacaError(f"accumulator {name!r} is declared twice")
        self.accumulators[name] = spec

    def add_reactor(self, reactor: ReactorDef, explicit_strategy: bool) -> None:
        held = self.reactors.get(reactor.name)
        if held is not None and held[0] != reactor:
            raise CloacaError(f"reactor {reactor.name!r} is declared twice")
        self.reactors[reactor.name] = (reactor, explicit_strategy)

    def add_graph(self, spec: GraphSpec) -> None:
        name = spec.definition.name
        if name in self.graphs:
            raise CloacaError(f"computation graph {name!r} is declared twice")
        self.graphs[name] = spec

    def add_invocation(self, task_id: str, graph: str) -> None:
        """A ``@cloaca.task(invokes=graph)``; checked by :meth:`finish`."""
        self.invocations.append((task_id, graph))

    def finish(
        self,
        *,
        graph_name: str | None = None,
        reaction_mode: str | None = None,
        input_strategy: str | None = None,
        declared_accumulators: tuple[Mapping[str, Any], ...] = (),
    ) -> None:
        """Cross-checks once the whole package is imported; applies the manifest's
        ``reaction_mode``/``input_strategy`` to the manifest's graph."""
        if graph_name is not None and graph_name not in self.graphs:
            known = ", ".join(sorted(self.graphs)) or "none"
            raise CloacaError(
                f"package.toml names graph_name {graph_name!r}, but the package declares"
                f" no such computation graph (declared: {known})"
            )
        for name, spec in list(self.graphs.items()):
            reactor = spec.definition.reactor
            if reactor is None:
                continue
            if name == graph_name:
                reactor = _manifest_reactor(
                    name, reactor, spec.explicit_strategy, reaction_mode, input_strategy
                )
                spec.definition = replace(spec.definition, reactor=reactor)
            for acc in reactor.accumulators:
                if acc not in self.accumulators:
                    raise CloacaError(
                        f"reactor {reactor.name!r} of graph {name!r} watches accumulator"
                        f" {acc!r}, which is not declared (use @cloaca.passthrough_accumulator"
                        " or another accumulator decorator)"
                    )
        for task_id, invoked in self.invocations:
            if invoked not in self.graphs:
                known = ", ".join(sorted(self.graphs)) or "none"
                raise CloacaError(
                    f"task {task_id!r} invokes computation graph {invoked!r}, which the package"
                    f" does not declare (declared: {known})"
                )
        for index, meta in enumerate(declared_accumulators):
            acc_name = str(meta.get("name"))
            if acc_name not in self.accumulators:
                raise CloacaError(
                    f"package.toml metadata.accumulators[{index}] names {acc_name!r},"
                    " which the package does not declare"
                )
            kind = meta.get("kind", meta.get("type"))
            got = self.accumulators[acc_name].definition.kind
            if kind is not None and kind != got:
                raise CloacaError(
                    f"package.toml says accumulator {acc_name!r} is {kind!r}; the code"
                    f" declares a {got} accumulator"
                )

    def describe(self) -> dict[str, Any]:
        reactors = {name: r.to_dict() for name, (r, _) in self.reactors.items()}
        for spec in self.graphs.values():
            if spec.definition.reactor is not None:
                reactors[spec.definition.reactor.name] = spec.definition.reactor.to_dict()
        return {
            "accumulators": [s.definition.to_dict() for s in self.accumulators.values()],
            "reactors": list(reactors.values()),
            "graphs": [s.definition.to_dict() for s in self.graphs.values()],
        }

    # -- read by workers
    def accumulator_function(self, name: str) -> Callable[..., Any]:
        try:
            return self.accumulators[name].function
        except KeyError:
            raise CloacaError(f"no accumulator {name!r}") from None

    def node_function(self, graph: str, node: str) -> Callable[..., Any]:
        try:
            return self.graphs[graph].functions[node]
        except KeyError:
            raise CloacaError(f"no node {node!r} in graph {graph!r}") from None


def _manifest_reactor(
    graph: str,
    reactor: ReactorDef,
    explicit_strategy: bool,
    reaction_mode: str | None,
    input_strategy: str | None,
) -> ReactorDef:
    if reaction_mode is not None and reaction_mode != reactor.mode:
        raise CloacaError(
            f"package.toml says reaction_mode {reaction_mode!r} for graph {graph!r}, but its"
            f" reactor {reactor.name!r} is declared {reactor.mode!r}"
        )
    if input_strategy is not None and input_strategy != reactor.input_strategy:
        if explicit_strategy:
            raise CloacaError(
                f"package.toml says input_strategy {input_strategy!r} for graph {graph!r},"
                f" but its reactor {reactor.name!r} is declared {reactor.input_strategy!r}"
            )
        reactor = replace(reactor, input_strategy=input_strategy)
        try:
            check_reactor(reactor)
        except GraphError as exc:
            raise CloacaError(str(exc)) from None
    return reactor


def graph_set(collection: registry.Collection | None = None) -> GraphSet | None:
    """The graph declarations of ``collection`` (the active one by default)."""
    collection = collection if collection is not None else registry.current_collection()
    if collection is None:
        return None
    found = getattr(collection, "graph_set", None)
    if found is None:
        found = GraphSet()
        collection.graph_set = found
    assert isinstance(found, GraphSet)
    return found

"""Running one firing of a graph: which nodes run, with what, in which order (pure).

An entry node (one that reads accumulators) is called with one argument per
input, in the declared order (``None`` for an accumulator with no value yet).
A node reached through ``next`` gets its predecessor's output; a routing node
returns ``(variant, payload)`` and only the node its route names runs next,
with ``payload``. A node whose ``inputs`` name other nodes gets their outputs
(``None`` for one that did not run). The outputs of the nodes that ran and
started nothing are the firing's terminal outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cloacinactl.workflow.graphs.model import GraphDef, GraphError

NodeCall = Callable[[str, list[Any]], Any]


@dataclass(frozen=True)
class FiringResult:
    path: list[str]
    outputs: dict[str, Any]  # terminal node → its output


class RouteError(GraphError):
    """A routing node returned something that is not one of its routes."""


def run_graph(graph: GraphDef, call: NodeCall, inputs: Mapping[str, Any]) -> FiringResult:
    """Run ``graph`` once; ``call(node_id, args)`` calls the node's function."""
    ids = {n.id for n in graph.nodes}
    by_id = {n.id: n for n in graph.nodes}
    activated: dict[str, list[Any]] = {}  # node → payloads handed to it
    outputs: dict[str, Any] = {}
    path: list[str] = []
    order = graph.order or tuple(by_id)
    for node_id in order:
        node = by_id[node_id]
        acc_inputs = [i for i in node.inputs if i not in ids]
        node_inputs = [i for i in node.inputs if i in ids]
        if acc_inputs:
            args = [inputs.get(i) for i in node.inputs if i not in ids]
            args += [outputs.get(i) for i in node_inputs]
        elif node_inputs:
            if not any(i in outputs for i in node_inputs) and node_id not in activated:
                continue
            args = [outputs.get(i) for i in node_inputs] + activated.get(node_id, [])
        elif node_id in activated:
            args = activated[node_id]
        elif not _has_predecessor(graph, node_id):
            args = []
        else:
            continue
        value = call(node_id, args)
        path.append(node_id)
        if node.routes:
            variant, payload = _route(graph.name, node_id, value, dict(node.routes))
            target = dict(node.routes)[variant]
            activated.setdefault(target, []).append(payload)
            outputs[node_id] = payload
            continue
        outputs[node_id] = value
        for target in node.next:
            activated.setdefault(target, []).append(value)
    ran = set(path)
    terminal = {
        n: outputs[n]
        for n in path
        if not (set(by_id[n].successors()) & ran) and not any(n in by_id[m].inputs for m in ran)
    }
    return FiringResult(path, terminal)


def _has_predecessor(graph: GraphDef, node_id: str) -> bool:
    return any(node_id in n.successors() or node_id in n.inputs for n in graph.nodes) or any(
        n.id == node_id and n.inputs for n in graph.nodes
    )


def _route(graph: str, node: str, value: Any, routes: dict[str, str]) -> tuple[str, Any]:
    if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
        variant, payload = value[0], value[1]
    else:
        raise RouteError(
            f"graph {graph!r}: routing node {node!r} must return (variant, payload),"
            f" got {type(value).__name__}"
        )
    if variant not in routes:
        raise RouteError(
            f"graph {graph!r}: routing node {node!r} returned variant {variant!r};"
            f" its routes are {', '.join(routes)}"
        )
    return variant, payload

"""The worker side of graph calls: accumulator functions, polls and firings.

Runs inside a worker process (it calls user code) for the ``graph`` op of the
worker protocol. Failures are results: ``{"error": {...}}`` with the same
shape as a task's error, so the service counts them and carries on.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from cloacinactl.workers.outcome import TaskError, error_from_exception, json_problem
from cloacinactl.workflow.graphs.execute import run_graph
from cloacinactl.workflow.graphs.model import GraphDef

ACTIONS = ("accumulate", "poll", "execute")


def _call(function: Any, *args: Any) -> Any:
    value = function(*args)
    if inspect.isawaitable(value):

        async def wait() -> Any:
            return await value

        value = asyncio.run(wait())
    return value


def _not_json(what: str, value: Any) -> TaskError | None:
    problem = json_problem(value)
    if problem is None:
        return None
    return TaskError("not_json", f"{what} returned a value that is not JSON: {problem}")


def graph_call(graph_set: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Serve one ``graph`` request against a package's ``GraphSet``."""
    action = args.get("action")
    if graph_set is None:
        error = TaskError("not_found", "the package declares no computation graphs")
        return {"status": "failed", "error": error.to_dict()}
    if action == "accumulate":
        return _accumulate(graph_set, str(args["accumulator"]), list(args.get("events", [])))
    if action == "poll":
        return _poll(graph_set, str(args["accumulator"]))
    if action == "execute":
        return _execute(graph_set, str(args["graph"]), dict(args.get("inputs") or {}))
    raise ValueError(f"unknown graph action {action!r}; one of {', '.join(ACTIONS)}")


def _accumulate(graph_set: Any, name: str, events: list[Any]) -> dict[str, Any]:
    function = graph_set.accumulator_function(name)
    values: list[Any] = []
    errors: list[dict[str, Any] | None] = []
    for event in events:
        try:
            value = _call(function, event)
        except Exception as exc:  # user code: that event fails, the others go on
            values.append(None)
            errors.append(error_from_exception("exception", exc, f"accumulator {name!r}").to_dict())
            continue
        bad = _not_json(f"accumulator {name!r}", value)
        values.append(None if bad else value)
        errors.append(None if bad is None else bad.to_dict())
    return {"status": "ok", "values": values, "errors": errors, "error": None}


def _poll(graph_set: Any, name: str) -> dict[str, Any]:
    function = graph_set.accumulator_function(name)
    try:
        value = _call(function)
    except Exception as exc:
        error = error_from_exception("exception", exc, f"polling accumulator {name!r}")
        return {"status": "failed", "value": None, "error": error.to_dict()}
    bad = _not_json(f"polling accumulator {name!r}", value)
    if bad is not None:
        return {"status": "failed", "value": None, "error": bad.to_dict()}
    return {"status": "ok", "value": value, "error": None}


def _execute(graph_set: Any, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    spec = graph_set.graphs.get(name)
    if spec is None:
        error = TaskError("not_found", f"no computation graph {name!r} in the package")
        return {"status": "failed", "path": [], "outputs": {}, "error": error.to_dict()}
    graph: GraphDef = spec.definition
    path: list[str] = []

    def call(node: str, node_args: list[Any]) -> Any:
        path.append(node)
        try:
            return _call(spec.functions[node], *node_args)
        except Exception as exc:
            raise _NodeFailed(node, exc) from exc

    try:
        result = run_graph(graph, call, inputs)
    except _NodeFailed as failed:
        error = error_from_exception("exception", failed.exc, f"node {failed.node!r}")
        return {"status": "failed", "path": path, "outputs": {}, "error": error.to_dict()}
    except Exception as exc:  # a routing node's bad return and the like
        error = TaskError("bad_return", str(exc), exc_type=type(exc).__name__)
        return {"status": "failed", "path": path, "outputs": {}, "error": error.to_dict()}
    bad = _not_json(f"graph {name!r}", result.outputs)
    if bad is not None:
        return {"status": "failed", "path": result.path, "outputs": {}, "error": bad.to_dict()}
    return {"status": "ok", "path": result.path, "outputs": result.outputs, "error": None}


class _NodeFailed(Exception):
    def __init__(self, node: str, exc: Exception) -> None:
        super().__init__(node)
        self.node = node
        self.exc = exc

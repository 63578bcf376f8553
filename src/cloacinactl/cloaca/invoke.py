"""``@cloaca.task(invokes=…)``: a task that runs a computation graph.

A graph with no reactor never fires by itself; a task invokes it. When the
task runs (in a worker, like any task) the graph runs first, in the same
process: each input its entry nodes read from outside the graph is taken from
the task's context under that name (``None`` when absent), and the graph's
result (the terminal output; a dict of them when several terminal nodes ran,
as ``builder.execute`` returns) is set in the context under the graph's name.
Then the task's own function runs with that context. A node that raises fails
the task attempt (its retry policy applies), and the error names the graph
and the node.

``invokes=`` takes the graph's name (the graph may be declared anywhere in the
package; the import fails when it is not) or the ``ComputationGraphBuilder``
itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.cloaca.graphset import GraphSet, graph_set
from cloacinactl.workflow.graphs.execute import run_graph
from cloacinactl.workflow.graphs.model import GraphDef


class GraphInvocationError(CloacaError):
    """A node of an invoked graph raised, or the graph could not be found."""


def _graph_name(task_id: str, invokes: Any) -> str:
    if isinstance(invokes, str):
        if not invokes:
            raise CloacaError(f"task {task_id!r}: invokes= must name a computation graph")
        return invokes
    name = getattr(invokes, "name", None)
    if hasattr(invokes, "_functions") and isinstance(name, str):
        return name
    raise CloacaError(
        f"task {task_id!r}: invokes= takes a computation graph's name or its"
        f" ComputationGraphBuilder, got {invokes!r}"
    )


class _Target:
    """Where the invoked graph is found when the task runs."""

    def __init__(self, task_id: str, invokes: Any, found: GraphSet | None) -> None:
        self.task_id = task_id
        self.name = _graph_name(task_id, invokes)
        self.builder = None if isinstance(invokes, str) else invokes
        self.found = found

    def resolve(self) -> tuple[GraphDef, dict[str, Callable[..., Any]]]:
        if self.builder is not None:
            graph = self.builder.graph if self.builder.graph is not None else self.builder.build()
            return graph, dict(self.builder._functions)
        spec = None if self.found is None else self.found.graphs.get(self.name)
        if spec is None:
            raise GraphInvocationError(
                f"task {self.task_id!r} invokes computation graph {self.name!r}, which is not"
                " declared (declare it with ComputationGraphBuilder in the same package)"
            )
        return spec.definition, spec.functions


def run_invoked(graph: GraphDef, functions: dict[str, Callable[..., Any]], context: Any) -> Any:
    """Run ``graph`` with its outside inputs read from ``context``; its result."""
    inputs = {name: context.get(name) for name in graph.accumulator_inputs()}

    def call(node: str, args: list[Any]) -> Any:
        try:
            value = functions[node](*args)
            if inspect.isawaitable(value):
                import asyncio

                async def wait() -> Any:
                    return await value

                value = asyncio.run(wait())
            return value
        except Exception as exc:
            raise GraphInvocationError(
                f"computation graph {graph.name!r}: node {node!r} raised"
                f" {type(exc).__name__}: {exc}"
            ) from exc

    result = run_graph(graph, call, inputs)
    if len(result.outputs) == 1:
        return next(iter(result.outputs.values()))
    return result.outputs


def invoking(task_id: str, fn: Callable[..., Any], invokes: Any) -> Callable[..., Any]:
    """The callable a task with ``invokes=`` runs: the graph, then ``fn``."""
    found = graph_set()
    target = _Target(task_id, invokes, found)
    if found is not None:
        found.add_invocation(task_id, target.name)

    def before(context: Any) -> None:
        graph, functions = target.resolve()
        context.set(graph.name, run_invoked(graph, functions, context))

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(context: Any, *rest: Any) -> Any:
            before(context)
            return await fn(context, *rest)

        return run_async

    @functools.wraps(fn)
    def run(context: Any, *rest: Any) -> Any:
        before(context)
        return fn(context, *rest)

    return run

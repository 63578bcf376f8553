"""``@cloaca.task(invokes=…)``: a task runs a graph with no reactor, in its worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cloacinactl.cloaca as cloaca
from cloacinactl.cloaca import CloacaError, collect
from cloacinactl.cloaca.invoke import GraphInvocationError
from cloacinactl.packages import ImportFailedError, PackageLoader, pack_dir
from cloacinactl.workflow.context import Context

from .packages import INVOKE, write_package


def _graph() -> Any:
    with cloaca.ComputationGraphBuilder(
        "double", graph={"twice": {"inputs": ["n"], "next": "check"}, "check": {}}
    ) as builder:

        @cloaca.node
        def twice(n: Any) -> Any:
            return n * 2

        @cloaca.node
        def check(v: Any) -> Any:
            if v > 100:
                raise ValueError("too big")
            return {"doubled": v}

    return builder


def test_the_graph_runs_before_the_task_with_inputs_from_the_context() -> None:
    with collect("wf") as collection:
        builder = _graph()

        @cloaca.task(id="by_builder", invokes=builder)
        def by_builder(context: Any) -> Any:
            context.set("seen", context.get("double"))
            return context

        @cloaca.task(id="by_name", dependencies=["by_builder"], invokes="double")
        def by_name(context: Any) -> None:
            context.set("again", context.get("double")["doubled"] + 1)

    assert by_builder.__name__ == "by_builder"  # the function itself is unchanged
    ctx = Context({"n": 4})
    collection.task_function("wf", "by_builder")(ctx)
    assert ctx.get("double") == {"doubled": 8} and ctx.get("seen") == {"doubled": 8}
    ctx = Context({"n": 5})
    collection.task_function("wf", "by_name")(ctx)
    assert ctx.get("again") == 11
    with pytest.raises(GraphInvocationError, match="graph 'double': node 'check' raised"):
        collection.task_function("wf", "by_name")(Context({"n": 60}))


def test_invokes_is_checked() -> None:
    with pytest.raises(CloacaError, match="invokes= takes"):
        cloaca.task(id="t", invokes=42)(lambda context: None)


def test_an_undeclared_invoked_graph_fails_the_import(tmp_path: Path) -> None:
    folder = write_package(
        tmp_path, "invoke-flow", code=INVOKE.replace('invokes="enrich"', 'invokes="enrichh"')
    )
    archive = pack_dir(folder, tmp_path / "bad.cloacina").path
    with pytest.raises(ImportFailedError, match="invokes computation graph 'enrichh'"):
        PackageLoader(tmp_path / "cache", import_timeout=20).load(archive)


def test_the_invoking_package_loads(tmp_path: Path) -> None:
    archive = pack_dir(write_package(tmp_path, "invoke-flow"), tmp_path / "ok.cloacina").path
    package = PackageLoader(tmp_path / "cache", import_timeout=20).load(archive)
    (graph,) = package.description["graphs"]
    assert graph["name"] == "enrich" and graph["reactor"] is None

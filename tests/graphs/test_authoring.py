"""Authoring: accumulators, reactors, ComputationGraphBuilder; topology checked both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cloacinactl.cloaca as cloaca
from cloacinactl.cloaca import CloacaError, collect
from cloacinactl.cloaca.graphs import graph_set
from cloacinactl.packages import ImportFailedError, PackageLoader
from cloacinactl.packages.manifest import parse_manifest

from .conftest import GraphPackage


def _graph(topology: dict[str, Any], nodes: list[str], **kw: Any) -> None:
    with cloaca.ComputationGraphBuilder("g", graph=topology, **kw):
        for name in nodes:
            cloaca.node(name=name)(lambda *a: a)


def test_routing_graph_executes_in_process() -> None:
    with cloaca.ComputationGraphBuilder(
        "route",
        react={"mode": "when_any", "accumulators": ["a"]},
        graph={"pick": {"inputs": ["a"], "routes": {"Hi": "hi", "Lo": "lo"}}, "hi": {}, "lo": {}},
    ) as b:

        @cloaca.node
        def pick(a: Any) -> Any:
            return ("Hi", a) if a and a > 5 else ("Lo", a)

        @cloaca.node
        def hi(v: Any) -> Any:
            return {"hi": v}

        @cloaca.node
        def lo(v: Any) -> Any:
            return {"lo": v}

    assert b.execute({"a": 9}) == {"hi": 9}
    assert b.execute({}) == {"lo": None}
    assert b.graph is not None and b.graph.order == ("pick", "hi", "lo")
    assert {"from": "pick", "to": "hi", "label": "Hi"} in b.graph.topology()["edges"]


def test_linear_fan_in_and_next_target_aliases() -> None:
    with cloaca.ComputationGraphBuilder(
        "lin",
        graph={
            "a": {"inputs": ["x"], "next": ["b", "c"]},
            "b": {"target": "d"},
            "c": {},
            "d": {"inputs": ["b", "c"]},
        },
    ) as b:
        cloaca.node(name="a")(lambda x: x + 1)
        cloaca.node(name="b")(lambda v: v * 10)
        cloaca.node(name="c")(lambda v: v * 100)
        cloaca.node(name="d")(lambda b_out, c_out, *rest: (b_out, c_out))
    assert b.execute({"x": 1}) == (20, 200)


@pytest.mark.parametrize(
    ("topology", "nodes", "kw", "message"),
    [
        ({"a": {}, "b": {}}, ["a"], {}, "node 'b' is in the topology but no @cloaca.node"),
        ({"a": {}}, ["a", "z"], {}, "function 'z' is not in the topology"),
        ({"a": {"next": "nope"}}, ["a"], {}, "continues to unknown node 'nope'"),
        ({"a": {"routes": {"X": "q"}}}, ["a"], {}, "routes 'X' to unknown node 'q'"),
        ({"a": {"next": "b"}, "b": {"next": "a"}}, ["a", "b"], {}, "cycle through a, b"),
        ({"a": {"inputs": ["zz"]}}, ["a"], {"react": {"accumulators": ["x"]}}, "neither a node"),
        ({"a": {"oops": 1}}, ["a"], {}, "unknown key 'oops'"),
        ({"a": {}}, ["a"], {"react": {"accumulators": ["x"], "mode": "sometimes"}}, "mode must"),
    ],
)
def test_topology_errors_are_clear(
    topology: dict[str, Any], nodes: list[str], kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(CloacaError, match=message):
        _graph(topology, nodes, **kw)


def test_accumulator_kinds_register_into_the_collection() -> None:
    with collect("pkg") as collection:

        @cloaca.state_accumulator(capacity=3)
        def window(e: Any) -> Any:
            return e

        @cloaca.batch_accumulator(flush_interval="2s", max_buffer_size=4)
        @cloaca.boundary_schema(level=float)
        def batch(e: Any) -> Any:
            return e

        @cloaca.polling_accumulator(interval="500ms")
        def poll() -> Any:
            return None

        @cloaca.reactor(name="r", accumulators=["window", "batch"], mode="when_all")
        class R:
            pass

        with cloaca.ComputationGraphBuilder("g", reactor=R, graph={"n": {"inputs": ["window"]}}):
            cloaca.node(name="n")(lambda w: w)
    found = graph_set(collection)
    assert found is not None
    described = found.describe()
    kinds = {a["name"]: a for a in described["accumulators"]}
    assert kinds["window"]["capacity"] == 3
    assert kinds["batch"]["schema"] == {"level": "float"}
    assert kinds["batch"]["flush_interval_ms"] == 2000
    assert kinds["poll"]["interval_ms"] == 500
    assert described["graphs"][0]["reactor"]["mode"] == "when_all"
    assert window(1) == 1  # decorators return the function unchanged


def test_stream_accumulator_is_refused() -> None:
    with pytest.raises(CloacaError, match="not supported"):
        cloaca.stream_accumulator(topic="t")


@pytest.mark.parametrize(
    ("code", "extra", "message"),
    [
        (
            "import cloaca\n@cloaca.stream_accumulator(topic='x')\ndef s(e):\n    return e\n",
            "",
            "stream_accumulator .* is not supported",
        ),
        (
            "import cloaca\n"
            "@cloaca.reactor(name='r', accumulators=['ghost'])\nclass R: pass\n"
            "with cloaca.ComputationGraphBuilder('g', reactor=R,"
            " graph={'n': {'inputs': ['ghost']}}):\n"
            "    cloaca.node(name='n')(lambda g: g)\n",
            "",
            "watches accumulator 'ghost', which is not declared",
        ),
        ("import cloaca\n", "", "declares no such computation graph"),
    ],
)
def test_broken_graph_packages_fail_to_load(
    graph_package: GraphPackage, tmp_path: Path, code: str, extra: str, message: str
) -> None:
    from cloacinactl.packages import pack_dir

    root = graph_package("bad-graph", "g", code, extra=extra)
    archive = pack_dir(root, tmp_path / "bad.cloacina").path
    with pytest.raises(ImportFailedError, match=message):
        PackageLoader(tmp_path / "cache", import_timeout=20).load(archive)


def test_manifest_graph_fields() -> None:
    data = {
        "package": {"name": "tick-graph", "version": "1.0.0"},
        "metadata": {"graph_name": "ticks", "reaction_mode": "when_all"},
    }
    manifest = parse_manifest(data, has_workflow_dir=True)
    assert manifest.entry_module == "tick_graph.graph"
    assert manifest.reaction_mode == "when_all"
    data["metadata"]["input_strategy"] = "random"
    with pytest.raises(Exception, match="input_strategy"):
        parse_manifest(data, has_workflow_dir=True)

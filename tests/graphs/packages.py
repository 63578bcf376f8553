"""Our own graph packages, one per case of the issue, for the daemon and server tests.

- ``pt-graph``: a passthrough accumulator with a boundary schema; its node
  raises on a negative reading and crashes its worker on ``crash``;
- ``state-graph``: a state accumulator (a window of 3);
- ``batch-graph``: a batch accumulator (flushes at 3 values);
- ``poll-graph``: a polling accumulator (fires on its own);
- ``route-graph``: a routing node (``High``/``Low``);
- ``all-graph``: a ``when_all`` reactor over two accumulators;
- ``invoke-flow``: a workflow whose task invokes a graph with no reactor;
- ``broken-graph``: a graph package using ``stream_accumulator`` (refused).

``write_all(root)`` writes them as package folders; ``EXPECTED`` says what each
reactor should fire for the events of ``FEED``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

GRAPH_MANIFEST = """\
[package]
name = "{name}"
version = "{version}"

[metadata]
graph_name = "{graph}"
"""

WORKFLOW_MANIFEST = """\
[package]
name = "{name}"
version = "{version}"

[metadata]
workflow_name = "{graph}"
entry_module = "{module}.tasks"
"""

PASSTHROUGH = """
import os
import cloaca

@cloaca.boundary_schema(value=float)
@cloaca.passthrough_accumulator
def readings(event):
    return event

@cloaca.reactor(name="pt", accumulators=["readings"], input_strategy="sequential")
class Pt:
    pass

with cloaca.ComputationGraphBuilder("pt_graph", reactor=Pt, graph={
    "scale": {"inputs": ["readings"], "next": "label"}, "label": {},
}):
    @cloaca.node
    def scale(readings):
        if readings.get("crash"):
            os._exit(7)
        if readings["value"] < 0:
            raise ValueError("negative reading")
        return readings["value"] * 10

    @cloaca.node
    def label(scaled):
        return {"scaled": scaled}
"""

STATE = """
import cloaca

@cloaca.state_accumulator(capacity=3)
def temps(event):
    return event["t"]

@cloaca.reactor(name="window", accumulators=["temps"], input_strategy="sequential")
class Window:
    pass

with cloaca.ComputationGraphBuilder("state_graph", reactor=Window,
                                    graph={"mean": {"inputs": ["temps"]}}):
    @cloaca.node
    def mean(temps):
        return {"window": temps, "mean": sum(temps) / len(temps)}
"""

BATCH = """
import cloaca

@cloaca.batch_accumulator(max_buffer_size=3, flush_interval="60s")
def orders(event):
    return event["qty"]

@cloaca.reactor(name="batcher", accumulators=["orders"], input_strategy="sequential")
class Batcher:
    pass

with cloaca.ComputationGraphBuilder("batch_graph", reactor=Batcher,
                                    graph={"total": {"inputs": ["orders"]}}):
    @cloaca.node
    def total(orders):
        return {"count": len(orders), "sum": sum(orders)}
"""

POLLING = """
import cloaca

_n = {"ticks": 0}

@cloaca.polling_accumulator(interval="200ms")
def clock():
    _n["ticks"] += 1
    if _n["ticks"] % 2 == 0:
        return None          # skips this tick
    return {"tick": _n["ticks"]}

@cloaca.reactor(name="clock", accumulators=["clock"], input_strategy="sequential")
class Clock:
    pass

with cloaca.ComputationGraphBuilder("poll_graph", reactor=Clock,
                                    graph={"tock": {"inputs": ["clock"]}}):
    @cloaca.node
    def tock(clock):
        return {"odd": clock["tick"] % 2 == 1}
"""

ROUTING = """
import cloaca

@cloaca.passthrough_accumulator
def signal(event):
    return event

@cloaca.reactor(name="router", accumulators=["signal"], input_strategy="sequential")
class Router:
    pass

with cloaca.ComputationGraphBuilder("route_graph", reactor=Router, graph={
    "classify": {"inputs": ["signal"], "routes": {"High": "alert", "Low": "log"}},
    "alert": {}, "log": {},
}):
    @cloaca.node
    def classify(signal):
        return ("High", signal["level"]) if signal["level"] > 5 else ("Low", signal["level"])

    @cloaca.node
    def alert(level):
        return {"alert": level}

    @cloaca.node
    def log(level):
        return {"logged": level}
"""

WHEN_ALL = """
import cloaca

@cloaca.passthrough_accumulator
def left(event):
    return event["v"]

@cloaca.passthrough_accumulator
def right(event):
    return event["v"]

@cloaca.reactor(name="joiner", accumulators=["left", "right"], mode="when_all",
                input_strategy="sequential")
class Joiner:
    pass

with cloaca.ComputationGraphBuilder("all_graph", reactor=Joiner,
                                    graph={"join": {"inputs": ["left", "right"]}}):
    @cloaca.node
    def join(left, right):
        return {"pair": [left, right]}
"""

INVOKE = """
import cloaca

with cloaca.ComputationGraphBuilder("enrich", graph={
    "normalize": {"inputs": ["raw"], "next": "tag"}, "tag": {},
}):
    @cloaca.node
    def normalize(raw):
        return raw["text"].strip().lower()

    @cloaca.node
    def tag(text):
        return {"text": text, "length": len(text)}


@cloaca.task(id="seed", dependencies=[])
def seed(context):
    if context.get("raw") is None:
        context.set("raw", {"text": "  Hello Graph  "})
    return context


@cloaca.task(id="use_graph", dependencies=["seed"], invokes="enrich")
def use_graph(context):
    context.set("labelled", context.get("enrich")["text"].upper())
    return context


@cloaca.trigger(name="invoke_tick", on="invoke_flow", cron="*/2 * * * * *")
def invoke_tick():
    pass
"""

BROKEN = """
import cloaca

@cloaca.stream_accumulator(topic="ticks")
def ticks(event):
    return event
"""

# name → (graph or workflow, code, is a workflow package)
PACKAGES: dict[str, tuple[str, str, bool]] = {
    "pt-graph": ("pt_graph", PASSTHROUGH, False),
    "state-graph": ("state_graph", STATE, False),
    "batch-graph": ("batch_graph", BATCH, False),
    "poll-graph": ("poll_graph", POLLING, False),
    "route-graph": ("route_graph", ROUTING, False),
    "all-graph": ("all_graph", WHEN_ALL, False),
    "invoke-flow": ("invoke_flow", INVOKE, True),
}
GRAPHS = ["pt_graph", "state_graph", "batch_graph", "poll_graph", "route_graph", "all_graph"]

# (accumulator, event) in the order they are injected
FEED: list[tuple[str, dict[str, Any]]] = [
    ("readings", {"value": 1.5}),
    ("readings", {"value": -1.0}),
    ("readings", {"value": 2.0}),
    *[("temps", {"t": t}) for t in (10, 20, 30, 40)],
    *[("orders", {"qty": q}) for q in (1, 2, 3, 4)],
    ("signal", {"level": 9}),
    ("signal", {"level": 2}),
    ("left", {"v": "a"}),
    ("left", {"v": "b"}),
    ("right", {"v": "x"}),
]

# reactor → [(ok, path, inputs, outputs)] oldest first, for FEED
EXPECTED: dict[str, list[tuple[bool, list[str], dict[str, Any], list[Any]]]] = {
    "pt": [
        (True, ["scale", "label"], {"readings": {"value": 1.5}}, [{"scaled": 15.0}]),
        (False, ["scale"], {"readings": {"value": -1.0}}, []),
        (True, ["scale", "label"], {"readings": {"value": 2.0}}, [{"scaled": 20.0}]),
    ],
    "window": [
        (True, ["mean"], {"temps": [10]}, [{"window": [10], "mean": 10.0}]),
        (True, ["mean"], {"temps": [10, 20]}, [{"window": [10, 20], "mean": 15.0}]),
        (True, ["mean"], {"temps": [10, 20, 30]}, [{"window": [10, 20, 30], "mean": 20.0}]),
        (True, ["mean"], {"temps": [20, 30, 40]}, [{"window": [20, 30, 40], "mean": 30.0}]),
    ],
    "batcher": [(True, ["total"], {"orders": [1, 2, 3]}, [{"count": 3, "sum": 6}])],
    "router": [
        (True, ["classify", "alert"], {"signal": {"level": 9}}, [{"alert": 9}]),
        (True, ["classify", "log"], {"signal": {"level": 2}}, [{"logged": 2}]),
    ],
    # when_all + sequential: boundaries pair up in order once both sides have one
    "joiner": [(True, ["join"], {"left": "a", "right": "x"}, [{"pair": ["a", "x"]}])],
}


def write_package(
    root: Path, name: str, *, code: str | None = None, version: str = "0.1.0"
) -> Path:
    graph, default_code, workflow = PACKAGES.get(name, ("ticks", BROKEN, False))
    module = name.replace("-", "_")
    folder = root / f"{name}-{version}"
    pkg = folder / "workflow" / module
    pkg.mkdir(parents=True, exist_ok=True)
    manifest = WORKFLOW_MANIFEST if workflow else GRAPH_MANIFEST
    (folder / "package.toml").write_text(
        manifest.format(name=name, version=version, graph=graph, module=module)
    )
    (pkg / "__init__.py").write_text("")
    entry = "tasks.py" if workflow else "graph.py"
    (pkg / entry).write_text(textwrap.dedent(code if code is not None else default_code))
    return folder


def write_all(root: Path) -> dict[str, Path]:
    return {name: write_package(root, name) for name in [*PACKAGES, "broken-graph"]}


def check_fires(fires: dict[str, list[dict[str, Any]]]) -> None:
    """``fires``: reactor → its fire records oldest first (ok, path, inputs, outputs)."""
    for reactor, expected in EXPECTED.items():
        got = [(f["ok"], f["path"], f["inputs"], f["outputs"]) for f in fires[reactor]]
        assert got == expected, (reactor, got)
    failed = fires["pt"][1]
    assert "negative reading" in str(failed["error"]), failed


def check_invoked(output: dict[str, Any]) -> None:
    """The output context of an ``invoke-flow`` run."""
    assert output["enrich"] == {"text": "hello graph", "length": 11}, output
    assert output["labelled"] == "HELLO GRAPH", output

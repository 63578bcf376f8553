"""The graph runtime with real worker processes and a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from cloacinactl.engine.graphs import GraphInputError, GraphNotFoundError

from .conftest import GraphPackage, running

ROUTING = """
import cloaca

@cloaca.passthrough_accumulator
def orderbook(event):
    return event

@cloaca.boundary_schema(mid_price=float)
@cloaca.passthrough_accumulator
def pricing(event):
    return {"mid": event["mid_price"]}

@cloaca.reactor(name="mm", accumulators=["orderbook", "pricing"], mode="when_any",
                input_strategy="sequential")
class MM:
    pass

with cloaca.ComputationGraphBuilder("market", reactor=MM, graph={
    "decision": {"inputs": ["orderbook", "pricing"],
                 "routes": {"Trade": "trade", "NoAction": "audit"}},
    "trade": {}, "audit": {},
}):
    @cloaca.node
    def decision(orderbook, pricing):
        if orderbook is None:
            return ("NoAction", {"reason": "no book", "mid": pricing and pricing["mid"]})
        if orderbook.get("boom"):
            raise RuntimeError("decision exploded")
        return ("Trade", {"bid": orderbook["bid"]})

    @cloaca.node
    def trade(signal):
        return {"traded": signal["bid"]}

    @cloaca.node
    def audit(reason):
        return {"audited": reason["reason"], "mid": reason["mid"]}
"""


async def test_inject_fires_with_the_right_inputs_and_path(
    tmp_path: Path, graph_package: GraphPackage
) -> None:
    async with running(tmp_path) as h:
        await h.load(graph_package("mm-graph", "market", ROUTING))
        assert await h.runtime.inject("pricing", {"mid_price": 101.5}) == 1
        await h.runtime.inject("orderbook", {"bid": 100})
        await h.runtime.inject("orderbook", {"boom": True})
        await h.runtime.inject("orderbook", {"bid": 102})
        with trio.fail_after(20):
            await h.runtime.wait_idle("mm")
        fires = list(reversed(await h.runtime.fires("mm")))
        assert [f["path"] for f in fires] == [
            ["decision", "audit"],
            ["decision", "trade"],
            ["decision"],
            ["decision", "trade"],
        ]
        assert fires[0]["inputs"] == {"pricing": {"mid": 101.5}}
        assert fires[0]["outputs"] == [{"audited": "no book", "mid": 101.5}]
        assert fires[1]["inputs"] == {"pricing": {"mid": 101.5}, "orderbook": {"bid": 100}}
        assert fires[1]["outputs"] == [{"traded": 100}]
        assert not fires[2]["ok"] and "decision exploded" in fires[2]["error"]
        assert fires[3]["ok"] and fires[3]["outputs"] == [{"traded": 102}]
        (graph,) = h.runtime.graphs()
        assert graph["fires"] == 4 and graph["failures"] == 1
        assert graph["health"]["state"] == "running"
        accs = {a["name"]: a for a in h.runtime.accumulators()}
        assert accs["orderbook"]["operator_injects"] == 3
        assert accs["pricing"]["events_total"] == 1


async def test_bad_injects_are_refused_naming_the_problem(
    tmp_path: Path, graph_package: GraphPackage
) -> None:
    async with running(tmp_path) as h:
        await h.load(graph_package("mm-graph", "market", ROUTING))
        with pytest.raises(GraphInputError, match="'mid_price' must be float"):
            await h.runtime.inject("pricing", {"mid_price": "high"})
        with pytest.raises(GraphInputError, match="'mid_price' is missing"):
            await h.runtime.inject("pricing", {"price": 1.0})
        with pytest.raises(GraphNotFoundError):
            await h.runtime.inject("nope", {})
        with pytest.raises(GraphInputError, match="not an accumulator"):
            await h.runtime.fire("mm", "fire_with", {"other": 1})
        assert await h.runtime.fires("mm") == []

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


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_the_example_graph_trades_on_an_injected_book(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        await h.load(EXAMPLES / "market-graph")
        await h.runtime.set_paused("market_maker", True)  # the poller waits too
        await h.runtime.fire("market_maker", "fire_with", {"prices": {"mid": 100.0, "tick": 1}})
        await h.runtime.inject("orderbook", {"bid": 99.95, "ask": 100.05})
        await h.runtime.set_paused("market_maker", False)
        with trio.fail_after(20):
            await h.runtime.wait_idle("market_maker")
        fires = list(reversed(await h.runtime.fires("market_maker")))
        assert fires[0]["manual"] and fires[0]["path"] == ["decide", "hold"]
        assert fires[1]["path"] == ["decide", "trade"]
        assert fires[1]["outputs"] == [{"action": "SELL", "price": 100.0}]
        with pytest.raises(GraphInputError, match="polling accumulator"):
            await h.runtime.inject("prices", {"mid": 1.0})


SEQUENTIAL = """
import cloaca

@cloaca.passthrough_accumulator
def numbers(event):
    return event

@cloaca.reactor(name="count", accumulators=["numbers"], input_strategy="sequential")
class Count:
    pass

with cloaca.ComputationGraphBuilder("counter", reactor=Count,
                                    graph={"seen": {"inputs": ["numbers"]}}):
    @cloaca.node
    def seen(numbers):
        if numbers.get("crash"):
            import os
            os._exit(3)
        return {"n": numbers["n"]}
"""


async def test_accepted_events_fire_once_after_a_restart(
    tmp_path: Path, graph_package: GraphPackage
) -> None:
    folder = graph_package("counter", "counter", SEQUENTIAL)
    db = tmp_path / "durable.db"
    async with running(tmp_path, db=db) as h:
        await h.load(folder)
        await h.runtime.set_paused("count", True)
        for n in range(3):
            await h.runtime.inject("numbers", {"n": n})
        assert await h.runtime.fires("count") == []
    # a new process on the same database: the accepted events are still there
    async with running(tmp_path, db=db) as h:
        await h.load(folder)
        assert h.runtime.reactors()[0]["paused"] is True  # the pause is durable too
        await h.runtime.set_paused("count", False)
        with trio.fail_after(20):
            await h.runtime.wait_idle("count")
        fires = list(reversed(await h.runtime.fires("count")))
        assert [f["outputs"] for f in fires] == [[{"n": 0}], [{"n": 1}], [{"n": 2}]]
    async with running(tmp_path, db=db) as h:
        await h.load(folder)
        await trio.sleep(0.2)
        assert len(await h.runtime.fires("count")) == 3  # nothing fired twice


async def test_crashing_nodes_are_counted_then_mark_the_graph_crashed(
    tmp_path: Path, graph_package: GraphPackage
) -> None:
    async with running(tmp_path) as h:
        await h.load(graph_package("counter", "counter", SEQUENTIAL))
        await h.runtime.inject("numbers", {"n": 1, "crash": True})
        await h.runtime.inject("numbers", {"n": 2})
        with trio.fail_after(30):
            await h.runtime.wait_idle("count")
        fires = list(reversed(await h.runtime.fires("count")))
        assert not fires[0]["ok"] and "exit" in fires[0]["error"]
        assert fires[1]["ok"] and fires[1]["outputs"] == [{"n": 2}]  # the graph goes on
        for n in range(3):
            await h.runtime.inject("numbers", {"n": n, "crash": True})
        with trio.fail_after(60):
            while h.runtime.graphs()[0]["health"]["state"] != "crashed":
                await trio.sleep(0.05)
            await h.runtime.wait_idle("count")  # the counters are committed with the fires
        health = h.runtime.graphs()[0]["health"]
        assert "3 fires in a row crashed a worker" in health["reason"]
        assert h.runtime.graphs()[0]["failures"] == 4


async def test_upgrade_remove_and_conflicts(tmp_path: Path, graph_package: GraphPackage) -> None:
    from cloacinactl.engine.graphs import GraphConflictError

    async with running(tmp_path) as h:
        await h.load(graph_package("counter", "counter", SEQUENTIAL))
        await h.runtime.inject("numbers", {"n": 1})
        v2 = SEQUENTIAL.replace('return {"n": numbers["n"]}', 'return {"n2": numbers["n"]}')
        await h.load(graph_package("counter", "counter", v2, version="0.2.0"))
        await h.runtime.inject("numbers", {"n": 2})
        with trio.fail_after(20):
            await h.runtime.wait_idle("count")
        outputs = [f["outputs"] for f in reversed(await h.runtime.fires("count"))]
        assert outputs[-1] == [{"n2": 2}] and len(outputs) == 2  # cursor kept across versions
        with pytest.raises(GraphConflictError, match="accumulator 'numbers'"):
            await h.load(graph_package("other", "counter", SEQUENTIAL))
        assert [g["name"] for g in h.runtime.graphs()] == ["counter"]
        await h.runtime.remove_package("counter")
        assert h.runtime.graphs() == [] and h.runtime.accumulators() == []
        with pytest.raises(GraphNotFoundError):
            await h.runtime.inject("numbers", {"n": 3})


async def test_every_event_fires_once_in_order_from_store_and_memory(
    tmp_path: Path, graph_package: GraphPackage
) -> None:
    """A backlog bigger than a batch (read from the store), then concurrent injects
    (handed over in memory) with a pause and a resume in the middle: each event
    fires exactly once, each caller's events in the order they were accepted."""
    import datetime as dt

    from cloacinactl.engine.graphs.runner import BATCH
    from cloacinactl.store import graphs as gstore

    async with running(tmp_path) as h:
        now = dt.datetime.now(dt.UTC)
        backlog = [
            {"reactor": "count", "accumulator": "numbers", "kind": "event",
             "payload": {"n": -1 - i}, "created_at": now}
            for i in range(BATCH + 7)
        ]  # fmt: skip
        h.store.write(lambda c: gstore.append_events(c, backlog))
        await h.load(graph_package("counter", "counter", SEQUENTIAL))

        async def caller(c: int) -> None:
            for i in range(30):
                await h.runtime.inject("numbers", {"n": c * 1000 + i})
                if i % 7 == 0:
                    await trio.sleep(0)

        async with trio.open_nursery() as nursery:
            for c in range(10):
                nursery.start_soon(caller, c)
            await trio.sleep(0.05)
            await h.runtime.set_paused("count", True)
            await trio.sleep(0.05)
            await h.runtime.set_paused("count", False)
        with trio.fail_after(60):
            await h.runtime.wait_idle("count")
        fires = list(reversed(h.store.read(lambda c: gstore.recent_fires(c, "count", 5000))))
        seen = [f["outputs"][0]["n"] for f in fires]
        assert len(seen) == len(set(seen)) == BATCH + 7 + 300
        assert seen[: BATCH + 7] == [-1 - i for i in range(BATCH + 7)]
        for c in range(10):
            assert [n for n in seen if n // 1000 == c and n >= 0] == [
                c * 1000 + i for i in range(30)
            ]
        assert h.runtime.runner("count").fires == BATCH + 7 + 300

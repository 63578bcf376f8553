"""Computation graphs in the server: each tenant's runtime runs its stored graph
packages, and the ``/v1/health`` graph routes answer in the upstream shapes."""

from __future__ import annotations

import json
from pathlib import Path

import trio
from contract import assert_shape
from server_helpers import RunningServer, stored_upload

from cloacinactl.engine.graphs import GraphInputError
from cloacinactl.packages import pack_dir
from cloacinactl.services.server.serverruntime import ServerRuntime
from cloacinactl.store import open_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _upload(store, tmp_path: Path, example: str) -> None:  # type: ignore[no-untyped-def]
    archive = pack_dir(EXAMPLES / example, tmp_path / f"{example}.cloacina").path
    data = archive.read_bytes()
    stored_upload(store, data)


async def test_a_tenant_runs_its_stored_graph_package(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/server.db")
    try:
        _upload(store, tmp_path, "market-graph")
        runtime = ServerRuntime(tmp_path / "cache", workers=1, reconcile_interval_s=60)
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.serve)
            await runtime.tenant_added("public", store)
            graphs = runtime.tenant("public").graphs
            assert graphs is not None
            (graph,) = graphs.graphs()
            assert graph["name"] == "market_maker" and graph["tenant_id"] == "public"
            assert_shape({"items": graphs.graphs(), "total": 1}, "ListResponse_GraphStatus")
            assert_shape({"items": graphs.reactors(), "total": 1}, "ListResponse_ReactorStatus")
            assert_shape(
                {"items": graphs.accumulators(), "total": 2}, "ListResponse_AccumulatorStatus"
            )
            surface = graphs.interface("accumulator", "orderbook")
            assert_shape(surface, "DeclaredSurface")
            assert surface["slots"][0]["schema"]["properties"] == {
                "bid": {"type": "number"},
                "ask": {"type": "number"},
            }
            assert graphs.interface("accumulator", "prices")["slots"] == []  # polling
            reactor_surface = graphs.interface("reactor", "market_maker")
            assert [s["name"] for s in reactor_surface["slots"]] == ["prices", "orderbook"]
            await graphs.set_paused("market_maker", True)
            await graphs.fire("market_maker", "fire_with", {"prices": {"mid": 100.0}})
            await graphs.inject("orderbook", {"bid": 99.95, "ask": 100.05})
            try:
                await graphs.inject("orderbook", {"bid": "x", "ask": 1.0})
            except GraphInputError as exc:
                assert "'bid' must be float" in exc.message
            else:
                raise AssertionError("a bad event was accepted")
            await graphs.set_paused("market_maker", False)
            with trio.fail_after(30):
                await graphs.wait_idle("market_maker")
            fires = await graphs.fires("market_maker")
            assert_shape({"items": fires, "total": len(fires)}, "ListResponse_ReactorFire")
            assert [f["path"] for f in reversed(fires)][:2] == [
                ["decide", "hold"],
                ["decide", "trade"],
            ]
            await runtime.tenant_removed("public")
            nursery.cancel_scope.cancel()
    finally:
        store.close()


def test_graph_routes_answer_in_upstream_shapes(server: RunningServer) -> None:
    admin = server.client()
    for path, schema in (
        ("/v1/health/graphs", "ListResponse_GraphStatus"),
        ("/v1/health/accumulators", "ListResponse_AccumulatorStatus"),
        ("/v1/health/reactors", "ListResponse_ReactorStatus"),
    ):
        r = admin.get(path)
        assert r.status_code == 200, r.text
        assert_shape(r.json(), schema)
    assert admin.get("/v1/health/accumulators/nope/interface").status_code == 404
    assert admin.get("/v1/health/reactors/nope/interface").status_code == 404
    missing = admin.get("/v1/health/graphs/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    inject = admin.post("/v1/health/accumulators/nope/inject", json={"event": {"a": 1}})
    assert inject.status_code == 404
    no_event = admin.post("/v1/health/accumulators/nope/inject", json={})
    assert no_event.status_code == 400
    assert server.client(None).get("/v1/health/graphs").status_code == 401
    reader = server.client(server.new_key(role="read"))
    fire = reader.post("/v1/health/reactors/nope/fire", json={"mode": "force_fire"})
    assert fire.status_code == 403  # firing needs a write key


def test_graph_cli_against_a_real_server(cli, server: RunningServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key_file = tmp_path / "admin.key"
    key_file.write_text(server.key + "\n")
    made = cli(
        "config",
        "profile",
        "set",
        "ops",
        "--server",
        server.url,
        "--api-key",
        f"file:{key_file}",
        "--default",
    )
    assert made.returncode == 0, made.stderr
    listed = cli("-o", "json", "graph", "list")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"items": [], "total": 0}
    accs = cli("graph", "accumulators")
    assert accs.returncode == 0, accs.stderr
    missing = cli("graph", "status", "nope")
    assert missing.returncode == 3, (missing.stdout, missing.stderr)
    bad = cli("graph", "inject", "orderbook", "--event", "-", input="{not json")
    assert bad.returncode == 1 and "invalid JSON" in bad.stderr
    gone = cli("graph", "inject", "orderbook", "--event", "-", input='{"bid": 1.0}')
    assert gone.returncode == 3, gone.stderr

"""Every kind of graph package in a real server, fed and read over HTTP: one per
accumulator kind, a routing graph, a ``when_all`` graph, a trigger-less graph
invoked from a task; a node that raises or crashes its worker is counted and the
graph goes on; a broken graph package is refused naming the problem and blocks
nothing; kill -9 of the server between accepted events and their fires → each
fires exactly once after the restart."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from server_helpers import RunningServer

from cloacinactl.packages import pack_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graphs"))
import packages as gp


def _wait(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _upload(http: httpx.Client, folder: Path, tmp: Path) -> httpx.Response:
    data = pack_dir(folder, tmp / f"{folder.name}.cloacina").path.read_bytes()
    return http.post(
        "/v1/tenants/public/workflows",
        files={"file": ("p.cloacina", data, "application/octet-stream")},
    )


def _fires(http: httpx.Client, reactor: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/health/reactors/{reactor}/fires")
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["items"]))


def _inject(http: httpx.Client, accumulator: str, event: Any) -> httpx.Response:
    return http.post(f"/v1/health/accumulators/{accumulator}/inject", json={"event": event})


def test_every_graph_kind_runs_in_the_server(server: RunningServer, tmp_path: Path) -> None:
    http = server.client()
    folders = gp.write_all(tmp_path / "src")
    broken = _upload(http, folders.pop("broken-graph"), tmp_path)
    assert broken.status_code == 400, broken.text
    assert "stream_accumulator" in broken.text and "not supported" in broken.text
    for folder in folders.values():
        r = _upload(http, folder, tmp_path)
        assert r.status_code == 201, r.text
    listed = {g["name"]: g for g in http.get("/v1/health/graphs").json()["items"]}
    assert set(listed) == set(gp.GRAPHS)
    kinds = {a["name"]: a["kind"] for a in http.get("/v1/health/accumulators").json()["items"]}
    assert {kinds[n] for n in ("readings", "temps", "orders", "clock")} == {
        "passthrough",
        "state",
        "batch",
        "polling",
    }
    bad = _inject(http, "readings", {"value": "high"})
    assert bad.status_code == 400 and "'value' must be float" in bad.text
    assert _inject(http, "clock", {}).status_code == 400
    for accumulator, event in gp.FEED:
        r = _inject(http, accumulator, event)
        assert r.status_code == 200, r.text

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        got = {r: _fires(http, r) for r in gp.EXPECTED}
        done = all(len(got[r]) >= len(want) for r, want in gp.EXPECTED.items())
        return got if done else None

    gp.check_fires(_wait("the expected fires", settled))
    _wait("the polling graph to fire on its own", lambda: len(_fires(http, "clock")) >= 2)
    assert all(f["ok"] and f["outputs"] == [{"odd": True}] for f in _fires(http, "clock"))

    # the trigger-less graph, invoked from a task
    run = http.post("/v1/tenants/public/workflows/invoke_flow/execute", json={})
    assert run.status_code in (200, 201, 202), run.text
    exec_id = run.json().get("execution_id") or run.json()["id"]

    def finished() -> dict[str, Any] | None:
        body = http.get(f"/v1/tenants/public/executions/{exec_id}").json()
        return body if body.get("status") in ("Completed", "Failed") else None

    done = _wait("the invoke_flow run", finished)
    assert done["status"] == "Completed", done
    output = done.get("output_context") or done.get("context") or done.get("output")
    gp.check_invoked(output)

    # a node that crashes its worker: counted, the graph keeps firing
    assert _inject(http, "readings", {"value": 0.0, "crash": True}).status_code == 200
    assert _inject(http, "readings", {"value": 3.0}).status_code == 200
    fires = _wait("pt fires", lambda: (f := _fires(http, "pt")) and len(f) >= 5 and f)
    assert not fires[3]["ok"] and "exit" in str(fires[3]["error"])
    assert fires[4]["ok"] and fires[4]["outputs"] == [{"scaled": 30.0}]
    pt = http.get("/v1/health/graphs/pt_graph").json()
    assert pt["fires"] == 5 and pt["failures"] == 2 and pt["health"]["state"] == "running"

    # upgrade keeps the cursor; removal forgets the graph
    v2 = gp.write_package(
        tmp_path / "v2",
        "route-graph",
        code=gp.ROUTING.replace('{"alert": level}', '{"alert2": level}'),
        version="0.2.0",
    )
    assert _upload(http, v2, tmp_path).status_code == 201
    assert _inject(http, "signal", {"level": 7}).status_code == 200
    routed = _wait("a v2 fire", lambda: (f := _fires(http, "router")) and len(f) >= 3 and f)
    assert [f["outputs"] for f in routed] == [[{"alert": 9}], [{"logged": 2}], [{"alert2": 7}]]
    for version in ("0.2.0", "0.1.0"):
        gone = http.delete(f"/v1/tenants/public/workflows/route-graph/{version}")
        assert gone.status_code == 200, gone.text
    left = {g["name"] for g in http.get("/v1/health/graphs").json()["items"]}
    assert left == set(gp.GRAPHS) - {"route_graph"}
    assert _inject(http, "signal", {"level": 1}).status_code == 404


def test_kill_9_of_the_server_between_accepted_and_fired(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server()
    http = server.client()
    slow = gp.PASSTHROUGH.replace(
        "    def label(scaled):\n", "    def label(scaled):\n        import time; time.sleep(0.4)\n"
    )
    assert _upload(http, gp.write_package(tmp_path / "src", "pt-graph", code=slow), tmp_path)
    _wait("the graph", lambda: http.get("/v1/health/graphs").json()["items"])
    for n in range(8):  # accepted (durable) at once; each fire takes 0.4 s
        assert _inject(http, "readings", {"value": float(n)}).status_code == 200
    _wait("the first fire", lambda: _fires(http, "pt"))
    server.proc.kill()
    server.proc.wait(timeout=10)
    again = start_server(server.database_url, key=server.key)
    http = again.client()
    fires = _wait("the rest to fire", lambda: (f := _fires(http, "pt")) and len(f) >= 8 and f)
    time.sleep(1.0)
    fired = [f["inputs"]["readings"]["value"] for f in _fires(http, "pt")]
    assert sorted(fired) == [float(n) for n in range(8)], fired  # each exactly once
    assert len(fires) == 8

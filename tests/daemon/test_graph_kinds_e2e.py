"""Every kind of graph package in the real daemon: one per accumulator kind, a routing
graph, a ``when_all`` graph, a trigger-less graph invoked from a task; events fed
through ``<home>/graphs.sock`` (``graph inject --daemon``); a node that raises or
crashes its worker is counted and the graph goes on; a broken graph package is
reported and blocks nothing; kill -9 between accepted and fired fires once."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from daemon_helpers import Daemons, drop, executions, health, wait_for

from cloacinactl.engine.graphs.feed import send_request
from cloacinactl.store import graphs as gstore
from cloacinactl.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graphs"))
import packages as gp


def _fires(home: Path, reactor: str) -> list[dict[str, Any]]:
    store = open_store(f"sqlite:///{home / 'cloacina.db'}")
    try:
        return list(reversed(store.read(lambda c: gstore.recent_fires(c, reactor, 500))))
    finally:
        store.close()


def _feed(home: Path, accumulator: str, event: Any) -> dict[str, Any]:
    return send_request(
        home / "graphs.sock", {"op": "inject", "accumulator": accumulator, "event": event}
    )


def _loaded(home: Path) -> dict[str, Any] | None:
    body = health(home)
    if body is None:
        return None
    names = {g["name"] for g in body.get("graph_health", {}).get("graphs", [])}
    reported = "broken-graph" in json.dumps(body.get("errors"))
    return body if set(gp.GRAPHS) <= names and reported else None


def test_every_graph_kind_runs_in_the_daemon(  # type: ignore[no-untyped-def]
    cli, home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    folders = gp.write_all(tmp_path / "src")
    daemons.start()
    for name, folder in folders.items():
        drop(folder, home / "packages", f"{name}.cloacina")
    body = wait_for(lambda: _loaded(home), timeout=60, what="the six graphs loaded")
    # the broken package is reported like a broken workflow package, the others run
    errors = json.dumps(body.get("errors"))
    assert "broken-graph" in errors and "stream_accumulator" in errors, errors
    assert "not supported" in errors

    # feed through the CLI once (bad event: the field is named), then the socket
    bad = cli("graph", "inject", "readings", "--daemon", "--event", "-", input='{"value": "high"}')
    assert bad.returncode == 1 and "'value' must be float" in bad.stderr, bad.stderr
    polling = cli("graph", "inject", "clock", "--daemon", "--event", "-", input="{}")
    assert polling.returncode == 1 and "polling accumulator" in polling.stderr
    missing = cli("graph", "inject", "nope", "--daemon", "--event", "-", input="{}")
    assert missing.returncode == 3, missing.stderr
    ok = cli(
        "-o",
        "json",
        "graph",
        "inject",
        "readings",
        "--daemon",
        "--event",
        "-",
        input=json.dumps(gp.FEED[0][1]),
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"accumulator": "readings", "reactors": 1}
    for accumulator, event in gp.FEED[1:]:
        assert _feed(home, accumulator, event)["ok"]

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        got = {r: _fires(home, r) for r in gp.EXPECTED}
        done = all(len(got[r]) >= len(want) for r, want in gp.EXPECTED.items())
        return got if done else None

    gp.check_fires(wait_for(settled, timeout=60, what="the expected fires"))
    wait_for(lambda: len(_fires(home, "clock")) >= 2, timeout=30, what="the polling graph")
    assert all(f["ok"] and f["outputs"] == [{"odd": True}] for f in _fires(home, "clock"))

    # the trigger-less graph, invoked from a task (the workflow runs on its own cron)
    flows = wait_for(
        lambda: [e for e in executions(home, "invoke_flow") if e["status"] == "Completed"],
        timeout=60,
        what="a completed invoke_flow run",
    )
    gp.check_invoked(flows[0]["output"])

    # a node that crashes its worker is counted; the graph keeps firing
    assert _feed(home, "readings", {"value": 0.0, "crash": True})["ok"]
    assert _feed(home, "readings", {"value": 3.0})["ok"]
    fires = wait_for(
        lambda: (f := _fires(home, "pt")) and len(f) >= 5 and f, timeout=60, what="pt fires"
    )
    assert not fires[3]["ok"] and "exit" in str(fires[3]["error"]), fires[3]
    assert fires[4]["ok"] and fires[4]["outputs"] == [{"scaled": 30.0}]
    status = wait_for(
        lambda: (b := health(home)) and {g["name"]: g for g in b["graph_health"]["graphs"]},
        what="health",
    )
    assert status["pt_graph"]["failures"] == 2 and status["pt_graph"]["fires"] == 5
    assert status["pt_graph"]["health"]["state"] == "running"


def test_kill_9_between_an_injected_event_and_its_fire(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    slow = gp.PASSTHROUGH.replace(
        "    def label(scaled):\n", "    def label(scaled):\n        import time; time.sleep(0.4)\n"
    )
    folder = gp.write_package(tmp_path / "src", "pt-graph", code=slow)
    proc = daemons.start()
    drop(folder, home / "packages", "pt-graph.cloacina")
    wait_for(
        lambda: (b := health(home)) and b.get("graphs", {}).get("loaded") == 1,
        timeout=60,
        what="the graph loaded",
    )
    for n in range(8):  # accepted (durable) at once; each fire takes 0.4 s
        assert _feed(home, "readings", {"value": float(n)})["ok"]
    wait_for(lambda: len(_fires(home, "pt")) >= 1, timeout=30, what="the first fire")
    daemons.kill9(proc)
    assert len(_fires(home, "pt")) < 8, "every event fired before the kill"
    daemons.start()
    wait_for(lambda: len(_fires(home, "pt")) >= 8, timeout=60, what="the rest fired")
    fired = [f["inputs"]["readings"]["value"] for f in _fires(home, "pt")]
    assert sorted(fired) == [float(n) for n in range(8)], fired  # each exactly once

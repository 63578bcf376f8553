"""Computation graphs in the real daemon: a polling graph fires on its own, a node that
raises is counted and the graph keeps firing, fires survive a restart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from daemon_helpers import Daemons, drop, health, query, wait_for

GRAPH = """\
import cloaca

_ticks = {"n": 0}


@cloaca.polling_accumulator(interval="200ms")
def beat():
    _ticks["n"] += 1
    return {"tick": _ticks["n"]}


@cloaca.reactor(name="beats", accumulators=["beat"], mode="when_any",
                input_strategy="sequential")
class Beats:
    pass


with cloaca.ComputationGraphBuilder(
    "heartbeat", reactor=Beats,
    graph={"observe": {"inputs": ["beat"], "next": "report"}, "report": {}},
):
    @cloaca.node
    def observe(beat):
        if beat["tick"] % 3 == 0:
            raise ValueError("every third beat fails")
        return {"seen": beat["tick"]}

    @cloaca.node
    def report(observe):
        return {"reported": observe["seen"]}
"""


def _package(tmp: Path) -> Path:
    root = tmp / "src" / "heartbeat-0.1.0"
    pkg = root / "workflow" / "heartbeat"
    pkg.mkdir(parents=True)
    (root / "package.toml").write_text(
        textwrap.dedent(
            """\
            [package]
            name = "heartbeat"
            version = "0.1.0"

            [metadata]
            graph_name = "heartbeat"
            reaction_mode = "when_any"
            """
        )
    )
    (pkg / "__init__.py").write_text("")
    (pkg / "graph.py").write_text(GRAPH)
    return root


def _fires(home: Path) -> list[tuple[object, ...]]:
    return query(home, "SELECT ok, path, outputs, error FROM graph_fires ORDER BY id")


def test_polling_graph_fires_in_the_daemon(
    cli, home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    proc = daemons.start()
    drop(_package(tmp_path), home / "packages", "heartbeat.cloacina")
    wait_for(lambda: len(_fires(home)) >= 4, what="four fires")
    fires = _fires(home)
    ok = [f for f in fires if f[0]]
    failed = [f for f in fires if not f[0]]
    assert ok and failed, fires
    assert json.loads(str(ok[0][1])) == ["observe", "report"]
    assert "reported" in json.loads(str(ok[0][2]))["report"]
    assert "every third beat fails" in str(failed[0][3])
    body = health(home)
    assert body is not None
    (graph,) = body["graph_health"]["graphs"]
    assert graph["name"] == "heartbeat" and graph["reactor"] == "beats"
    assert graph["health"]["state"] == "running" and graph["failures"] >= 1
    assert body["graphs"]["loaded"] == 1
    shown = cli("daemon", "status", "--no-color")
    assert shown.returncode == 0, shown.stderr
    assert "heartbeat running" in shown.stdout

    # restart: the cursor and counters are durable, fires continue after them
    before = len(_fires(home))
    daemons.stop(proc)
    daemons.start()
    wait_for(lambda: len(_fires(home)) >= before + 2, what="fires after a restart")
    body = wait_for(lambda: health(home), what="health")
    assert body["graph_health"]["graphs"][0]["fires"] >= before + 2

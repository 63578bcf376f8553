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


SLOW = """\
import time
import cloaca


@cloaca.polling_accumulator(interval="100ms")
def stamp():
    return {"at": time.time_ns()}


@cloaca.reactor(name="slow", accumulators=["stamp"], input_strategy="sequential")
class Slow:
    pass


with cloaca.ComputationGraphBuilder("slow", reactor=Slow, graph={"work": {"inputs": ["stamp"]}}):
    @cloaca.node
    def work(stamp):
        time.sleep(0.3)
        return {"done": stamp["at"]}
"""


def test_kill_9_between_accepted_and_fired_fires_once_after_restart(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    root = _package(tmp_path)
    (root / "workflow" / "heartbeat" / "graph.py").write_text(SLOW)
    (root / "package.toml").write_text(
        (root / "package.toml")
        .read_text()
        .replace('graph_name = "heartbeat"', 'graph_name = "slow"')
    )
    proc = daemons.start()
    drop(root, home / "packages", "slow.cloacina")
    # events pile up (polled every 100 ms, each fire takes 300 ms): accepted, not yet fired
    pending = wait_for(
        lambda: (
            query(home, "SELECT payload FROM graph_events WHERE reactor = 'slow'")
            if len(_fires(home)) >= 1
            and len(query(home, "SELECT id FROM graph_events WHERE reactor = 'slow'")) >= 3
            else None
        ),
        what="accepted events waiting for their fire",
    )
    daemons.kill9(proc)
    waiting = [json.loads(str(p[0]))["at"] for p in pending]
    daemons.start()

    def fired() -> list[int]:
        rows = query(home, "SELECT inputs FROM graph_fires WHERE reactor = 'slow'")
        return [json.loads(str(r[0]))["stamp"]["at"] for r in rows]

    wait_for(lambda: set(waiting) <= set(fired()), timeout=30, what="the waiting events to fire")
    stamps = fired()
    assert len(stamps) == len(set(stamps)), "an event fired twice"

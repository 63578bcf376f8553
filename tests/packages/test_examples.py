"""The bundled examples load and declare what the README says they do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloacinactl.packages import PackageLoader, pack_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str, tmp_path: Path) -> Any:
    archive = pack_dir(EXAMPLES / name, tmp_path / f"{name}.cloacina").path
    return PackageLoader(tmp_path / "cache").load(archive)


def test_linear_pipeline(tmp_path: Path) -> None:
    loaded = load("linear-pipeline", tmp_path)
    try:
        (wf,) = loaded.workflows()
        assert wf.name == "linear_pipeline"
        assert [t.id for t in wf.tasks] == ["ingest", "clean", "report"]
        assert {p.name: p.default for p in wf.params} == {"sensor": "greenhouse-1", "samples": 24}
        assert wf.content_hash == loaded.identity.sha256
        (trigger,) = loaded.triggers()
        assert (trigger.name, trigger.cron) == ("every_half_minute", "*/30 * * * * *")
        assert trigger.workflow == "linear_pipeline"
        assert loaded.root.is_dir()
    finally:
        loaded.unload()
    assert not loaded.root.exists()


def test_fan_out_fan_in(tmp_path: Path) -> None:
    loaded = load("fan-out-fan-in", tmp_path)
    (wf,) = loaded.workflows()
    tasks = wf.by_id
    assert set(tasks["merge"].dependencies) == {"price_eu", "price_us", "fetch_rates", "audit"}
    assert tasks["fetch_rates"].retry.max_attempts == 3
    rule = tasks["audit"].trigger_rule
    assert rule is not None and rule.conditions[0].key == "audit"
    (trigger,) = loaded.triggers()
    assert (trigger.cron, trigger.timezone, trigger.workflow) == (
        "5/20 * * * * *",
        "UTC",
        "fan_out_fan_in",
    )
    loaded.unload()


def test_scheduled_jobs(tmp_path: Path) -> None:
    loaded = load("scheduled-jobs", tmp_path)
    triggers = {t.name: t for t in loaded.triggers()}
    assert triggers["heartbeat"].cron == "*/10 * * * * *"
    assert triggers["heartbeat"].workflow == "housekeeping"
    assert triggers["inbox_watch"].kind.value == "poll"
    assert triggers["inbox_watch"].poll_interval_ms == 5000
    loaded.unload()


def test_loader_reuses_the_cache_for_the_same_bytes(tmp_path: Path) -> None:
    archive = pack_dir(EXAMPLES / "linear-pipeline", tmp_path / "a.cloacina").path
    loader = PackageLoader(tmp_path / "cache")
    first = loader.load(archive)
    marker = first.root / "marker"
    marker.write_text("still here")
    second = loader.load(archive)
    assert second.root == first.root and marker.exists()
    assert second.identity == first.identity
    second.unload()


def test_market_graph(tmp_path: Path) -> None:
    loaded = load("market-graph", tmp_path)
    try:
        assert loaded.workflows() == []
        (graph,) = loaded.description["graphs"]
        assert graph["name"] == "market_maker"
        assert graph["reactor"]["accumulators"] == ["prices", "orderbook"]
        kinds = {a["name"]: a["kind"] for a in loaded.description["accumulators"]}
        assert kinds == {"prices": "polling", "orderbook": "passthrough"}
        decide = next(n for n in graph["nodes"] if n["id"] == "decide")
        assert decide["routes"] == {"Trade": "trade", "Hold": "hold"}
    finally:
        loaded.unload()

"""Package sources: the worker imports a package through the packages importer."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cloacinactl.packages.manifest import load_manifest
from cloacinactl.workers import PackageSource, TaskRequest, WorkerPool

TASKS = """
import os
import cloaca

@cloaca.task
def fetch(ctx):
    ctx.set("fetched", [1, 2, 3])

def succeeded(task_id, ctx):
    with open(os.environ["WF_CALLBACKS"], "a") as f:
        f.write(f"success {task_id} {ctx.get('total')}\\n")

def failed(task_id, error, ctx):
    with open(os.environ["WF_CALLBACKS"], "a") as f:
        f.write(f"failure {task_id} {error}\\n")
    raise RuntimeError("a broken callback never changes the outcome")

@cloaca.task(dependencies=[fetch], on_success=succeeded)
async def total(ctx, handle):
    ctx.set("total", sum(ctx.get("fetched")))
    ctx.set("attempt", handle.attempt)
    return ctx

@cloaca.task(on_failure=failed)
def broken(ctx):
    raise KeyError("missing")

@cloaca.trigger(on="demo", poll_interval="5s")
def new_files():
    return cloaca.TriggerResult.fire({"file": "a.csv"})

@cloaca.trigger(on="demo", poll_interval="5s")
def nothing_new():
    return cloaca.TriggerResult.skip()
"""


@pytest.fixture
def package(tmp_path: Path) -> PackageSource:
    root = tmp_path / "demo-1.0.0"
    (root / "workflow" / "demo").mkdir(parents=True)
    (root / "package.toml").write_text('[package]\nname = "demo"\nversion = "1.0.0"\n')
    (root / "workflow" / "demo" / "__init__.py").write_text("")
    (root / "workflow" / "demo" / "tasks.py").write_text(textwrap.dedent(TASKS))
    manifest = load_manifest(root)
    return PackageSource("demo-1.0.0-abc", str(root), manifest.to_dict())


async def test_package_load_describes_workflows(pool: WorkerPool, package: PackageSource) -> None:
    loaded = await pool.load(package)
    assert loaded.ok, loaded.error
    assert loaded.description is not None
    (workflow,) = loaded.description["workflows"]
    assert workflow["name"] == "demo"
    ids = {t["id"] for t in workflow["tasks"]}
    assert ids == {"fetch", "total", "broken"}


async def test_package_tasks_run_with_callbacks(
    pool: WorkerPool, package: PackageSource, tmp_path: Path
) -> None:
    first = await pool.run_task(TaskRequest(package, "demo", "fetch", {}))
    assert first.output == {"fetched": [1, 2, 3]}
    second = await pool.run_task(
        TaskRequest(package, "demo", "total", first.output or {}, attempt=2)
    )
    assert second.output == {"fetched": [1, 2, 3], "total": 6, "attempt": 2}
    failed = await pool.run_task(TaskRequest(package, "demo", "broken", {}))
    assert failed.error is not None and failed.error.exc_type == "KeyError"
    assert any("on_failure callback" in r["message"] for r in failed.captured.logs)
    lines = (tmp_path / "callbacks.txt").read_text().splitlines()
    assert lines[0] == "success total 6"
    assert lines[1].startswith("failure broken ") and "missing" in lines[1]


async def test_package_poll_triggers(pool: WorkerPool, package: PackageSource) -> None:
    fired = await pool.poll_trigger(package, "new_files")
    skipped = await pool.poll_trigger(package, "nothing_new")
    missing = await pool.poll_trigger(package, "no_such_trigger")
    assert (fired.fire, fired.context) == (True, {"file": "a.csv"})
    assert skipped.ok and not skipped.fire
    assert missing.error is not None and missing.error.kind == "not_found"

"""`package run` checks the declared workflow_params before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PARAMS_TASKS = """\
import cloaca

cloaca.workflow_params(source=str, batch=(int, 500))


@cloaca.task
def report(context):
    print("ran with", context.get("source"), context.get("batch"))
    context.set("seen", [context.get("source"), context.get("batch")])
    return context
"""


def test_missing_and_mistyped_params_exit_1_before_running(
    cli: Any, make_package: Any, tmp_path: Path
) -> None:
    root = make_package(tasks=PARAMS_TASKS)
    r = cli("package", "run", str(root), timeout=120)
    assert r.returncode == 1
    assert "missing required param 'source' (str)" in r.stderr
    assert "source (str), batch (int, optional)" in r.stderr  # the hint lists what it declares
    assert "ran with" not in r.stdout + r.stderr

    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"source": 5, "batch": "many"}))
    r = cli("package", "run", str(root), "--context", str(ctx), timeout=120)
    assert r.returncode == 1
    assert "param 'source' must be str, got int" in r.stderr
    assert "param 'batch' must be int, got str" in r.stderr
    assert "ran with" not in r.stdout + r.stderr


def test_defaults_are_filled_in(cli: Any, make_package: Any) -> None:
    root = make_package(tasks=PARAMS_TASKS)
    r = cli("package", "run", str(root), "--json", "--context", "-",
            input='{"source": "s3://bucket"}', timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["output_context"]["seen"] == ["s3://bucket", 500]

"""The layering contracts (pyproject.toml's [tool.importlinter]) hold for the tree, and
they are not vacuous: on a scratch copy of the package, an upward import and an I/O
import in the pure model each break a contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO / "src" / "cloacinactl",
        tmp_path / "src" / "cloacinactl",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_tree_keeps_every_contract(scratch: Path) -> None:
    result = lint(scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(scratch: Path) -> None:
    dag = scratch / "src" / "cloacinactl" / "workflow" / "dag.py"
    dag.write_text(dag.read_text() + "\nfrom cloacinactl.engine import runner  # noqa\n")
    result = lint(scratch)
    assert result.returncode != 0
    assert "parts are layered BROKEN" in result.stdout
    assert "cloacinactl.workflow.dag -> cloacinactl.engine.runner" in result.stdout


def test_io_in_the_model_breaks_its_purity(scratch: Path) -> None:
    context = scratch / "src" / "cloacinactl" / "workflow" / "context.py"
    context.write_text(context.read_text() + "\nimport sqlite3  # noqa\n")
    result = lint(scratch)
    assert result.returncode != 0
    assert "the workflow model is pure (no I/O, no trio, no SQL) BROKEN" in result.stdout

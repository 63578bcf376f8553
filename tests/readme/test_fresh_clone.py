"""The README's two commands, followed in a fresh clone with a fresh virtual environment.

This is what a new user does: clone, run ``scripts/daemon`` (the main job: the daemon
on the embedded SQLite default with the bundled examples) and ``scripts/test``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    dest = tmp_path_factory.mktemp("fresh") / "cloacina"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(dest)], check=True)
    # The bootstrap takes a fresh .venv: nothing of this checkout's environment leaks in.
    assert not (dest / ".venv").exists()
    return dest


def _env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "CLOACINA_TEST_POSTGRES_URL", "PIP_INDEX_URL")
    env = {k: v for k, v in os.environ.items() if k in keep}
    # never let this checkout's .venv stand in for the clone's own
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    return env


def _completed_workflows(db: Path) -> set[str]:
    """Workflows with at least one Completed execution in the daemon's database."""
    if not db.exists():
        return set()
    conn = sqlite3.connect(str(db), timeout=10)
    try:
        rows = conn.execute(
            "SELECT DISTINCT workflow_name FROM executions WHERE status = 'Completed'"
        )
        return {name for (name,) in rows}
    except sqlite3.OperationalError:  # not migrated yet
        return set()
    finally:
        conn.close()


def test_main_job_runs_the_examples_on_a_fresh_home(clone: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _env() | {"CLOACINA_HOME": str(home)}
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [str(clone / "scripts" / "daemon")],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ctl = clone / ".venv" / "bin" / "cloacinactl"
    wanted = {"linear_pipeline", "fan_out_fan_in", "housekeeping"}  # one per example
    try:
        status: dict[str, object] = {}
        done: set[str] = set()
        deadline = time.monotonic() + 600  # includes creating .venv from the registry
        while time.monotonic() < deadline and proc.poll() is None and done != wanted:
            if ctl.exists():
                out = subprocess.run(
                    [str(ctl), "--home", str(home), "-o", "json", "daemon", "status"],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if out.returncode == 0:
                    status = json.loads(out.stdout)
                    done = _completed_workflows(home / "cloacina.db")
            time.sleep(0.5)
        text = (tmp_path / "daemon.log").read_text(errors="replace")
        assert proc.poll() is None, text[-3000:]
        bundled = len([d for d in (ROOT / "examples").iterdir() if d.is_dir()])
        assert status.get("packages_loaded") == bundled, (status, text[-3000:])
        assert done == wanted, (done, text[-3000:])
        composite = subprocess.run(
            [str(ctl), "--home", str(home), "status"], capture_output=True, text=True, env=env
        )
        assert composite.returncode == 0 and "daemon" in composite.stdout
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def test_test_command_runs_lint_types_and_tests(clone: Path) -> None:
    # The whole command (ruff, mypy, pytest) on a small selection: the full suite
    # is what is running this test already.
    result = subprocess.run(
        [str(clone / "scripts" / "test"), "tests/cli/test_root.py", "-q", "-p", "no:cacheprovider"],
        cwd=clone,
        env=_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    for step in ("== ruff check", "== mypy", "== pytest"):
        assert step in out
    assert " passed" in out


def test_test_command_fails_when_pytest_collects_nothing(clone: Path) -> None:
    result = subprocess.run(
        [str(clone / "scripts" / "test"), "-k", "no_test_has_this_name", "-q"],
        cwd=clone,
        env=_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    assert result.returncode != 0
    assert "collected no tests" in result.stdout + result.stderr

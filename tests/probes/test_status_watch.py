"""``status --watch``: the numbers (pure), the daemon database part, a real TTY, a pipe."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from cloacinactl.cli.status import parse_interval
from cloacinactl.config.home import Home
from cloacinactl.errors import UserError
from cloacinactl.probes.watch import Sample, Watcher, rates, request_counts
from cloacinactl.store import open_store
from cloacinactl.store import schema as s

BIN = Path(sys.executable).parent

METRICS = """# HELP cloacina_api_requests_total HTTP requests answered, by method and status code.
# TYPE cloacina_api_requests_total counter
cloacina_api_requests_total{method="GET",status="200"} 90.0
cloacina_api_requests_total{method="POST",status="500"} 6.0
cloacina_api_requests_total{method="GET",status="404"} 4.0
cloacina_api_requests_created{method="GET",status="200"} 1.7e9
"""


def test_request_rate_and_error_rate() -> None:
    assert request_counts(METRICS) == (100.0, 6.0)
    assert rates(None, Sample(1.0, 100, 6)) == (None, None)
    rps, err = rates(Sample(1.0, 100, 6), Sample(3.0, 140, 10))
    assert rps == 20.0 and err == 0.1
    assert rates(Sample(1.0, 100, 6), Sample(3.0, 5, 0)) == (None, None)  # restarted


def test_interval_grammar() -> None:
    assert parse_interval("2s") == 2.0 and parse_interval("500ms") == 0.5
    assert parse_interval("1.5") == 1.5 and parse_interval("1m") == 60.0
    for bad in ("0s", "fast", "10ms"):
        with pytest.raises(UserError):
            parse_interval(bad)


def test_database_part_shows_progress_failures_and_schedules(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.ensure()
    store = open_store(home.database_url)
    now = dt.datetime.now(dt.UTC)

    def seed(conn: object) -> None:
        execute = conn.execute  # type: ignore[attr-defined]
        base = {"workflow_version": "v1", "input_context": {}, "created_at": now}
        execute(
            s.executions.insert(),
            [{"id": "run-1", "workflow_name": "etl", "status": "Running", **base}],
        )
        execute(
            s.executions.insert(),
            [
                {
                    "id": "bad-1",
                    "workflow_name": "etl",
                    "status": "Failed",
                    "error": "task load: boom\nmore",
                    **base,
                }
            ],
        )
        for name, state in (("extract", "Completed"), ("load", "Running"), ("report", "Pending")):
            execute(
                s.tasks.insert(),
                [{"execution_id": "run-1", "task_name": name, "state": state, "created_at": now}],
            )
        schedules = [
            ("c-min", "cron", "etl", "* * * * *", None, False),
            ("c-year", "cron", "report", "0 0 1 1 *", None, False),
            ("c-paused", "cron", "paused_wf", "* * * * *", None, True),
            ("p-watch", "trigger", "watcher", None, "files", False),
        ]
        for sid, kind, wf, expr, trigger, paused in schedules:
            execute(
                s.schedules.insert(),
                [
                    {
                        "id": sid,
                        "schedule_type": kind,
                        "workflow_name": wf,
                        "trigger_name": trigger,
                        "cron_expression": expr,
                        "timezone": "UTC",
                        "paused": paused,
                        "created_at": now,
                    }
                ],
            )

    store.write(seed)
    store.close()
    watcher = Watcher(home, [])
    try:
        db = watcher._database()
    finally:
        watcher.close()
    assert db is not None and "error" not in db, db
    assert db["active"] == [
        {
            "id": "run-1",
            "workflow": "etl",
            "status": "Running",
            "started_at": db["active"][0]["started_at"],
            "tasks": 3,
            "done": 1,
        }
    ]
    assert db["failures"][0]["id"] == "bad-1" and db["failures"][0]["reason"] == "task load: boom"
    # cron schedules due next, soonest first (each minute, then 1 January); a paused one
    # and a poll trigger (no time of its own) are not listed
    later = dt.datetime.now(dt.UTC)
    assert [(d["workflow"], d["name"]) for d in db["schedules"]] == [
        ("etl", "* * * * *"),
        ("report", "0 0 1 1 *"),
    ]
    soon = dt.datetime.fromisoformat(db["schedules"][0]["next_run_at"].replace("Z", "+00:00"))
    assert soon.second == 0 and -5 < (soon - later).total_seconds() <= 60
    assert db["schedules"][1]["next_run_at"] == f"{later.year + 1}-01-01T00:00:00Z"


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME", "NO_COLOR")
    }
    return env | {"COLUMNS": "120", "LINES": "60", "TERM": "xterm-256color"}


@pytest.mark.parametrize("leave", ["q", "ctrl-c"])
def test_tty_redraws_and_q_or_ctrl_c_leaves(leave: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    argv = ["--home", str(home), "status", "--watch", "--interval", "0.2", "--timeout", "0.5"]
    child = pexpect.spawn(
        str(BIN / "cloacinactl"),
        argv,
        env=_env(home),
        encoding="utf-8",
        timeout=20,
        dimensions=(60, 120),
    )
    try:
        child.expect("q or Ctrl-C to leave")
        child.expect("services")
        child.expect("server requests")
        # a second frame is drawn in place (the cursor moves up rather than scrolling on)
        child.expect("\x1b\\[[0-9]*A")
        child.expect("server requests")
        if leave == "q":
            child.send("q")
        else:
            child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_piped_output_is_plain_blocks(tmp_path: Path) -> None:
    argv = [str(BIN / "cloacinactl"), "--home", str(tmp_path / "h"), "status", "--watch"]
    out = subprocess.run(
        [*argv, "--interval", "0.1", "--count", "3", "--timeout", "0.5"],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout
    assert out.stdout.count("cloacina status — ") == 3
    assert out.stdout.count("daemon") >= 3 and "stopped" in out.stdout

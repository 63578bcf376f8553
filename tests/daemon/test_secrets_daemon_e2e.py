"""The daemon fills workflows' secret slots from --secrets-file, re-read at each task."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from daemon_helpers import BIN, Daemons, drop, executions, query, wait_for

VALUE = "dmn-secret-5c2e81aa"
ROTATED = "dmn-rotated-0b7d44ffee"

TASKS = """\
import cloaca

cloaca.workflow_secrets("api")


@cloaca.task
def call(context):
    token = context.secret_field("api", "token")
    print("token is", token)
    context.set("token_length", len(token))
    return context


@cloaca.trigger(name="tick", on="keyed_flow", cron="* * * * * *")
def tick():
    pass
"""


def package(tmp_path: Path) -> Path:
    folder = tmp_path / "src-keyed"
    (folder / "workflow" / "keyed").mkdir(parents=True)
    (folder / "workflow" / "keyed" / "__init__.py").write_text("")
    (folder / "workflow" / "keyed" / "tasks.py").write_text(TASKS)
    (folder / "package.toml").write_text(
        textwrap.dedent(
            """
            [package]
            name = "keyed"
            version = "1.0.0"

            [metadata]
            workflow_name = "keyed_flow"
            entry_module = "keyed.tasks"
            """
        )
    )
    return folder


def write_secrets(path: Path, token: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"api": {"token": token}}))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def lengths(home: Path) -> list[Any]:
    return [
        (e["output"] or {}).get("token_length")
        for e in executions(home, "keyed_flow")
        if e["status"] == "Completed"
    ]


def test_cron_runs_read_the_file_and_a_rotation(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.json"
    write_secrets(secrets, VALUE)
    daemons.start("--secrets-file", str(secrets))
    drop(package(tmp_path), home / "packages", "keyed.cloacina")
    wait_for(lambda: len(VALUE) in lengths(home), what="a run that read the secret")
    write_secrets(secrets, ROTATED)
    wait_for(lambda: len(ROTATED) in lengths(home), what="a run that read the rotation")
    tables = [r[0] for r in query(home, "SELECT name FROM sqlite_master WHERE type='table'")]
    dump = repr([query(home, f'SELECT * FROM "{t}"') for t in tables])
    log = daemons.log.read_text() + "".join(
        p.read_text(errors="replace") for p in (home / "logs").glob("*") if p.is_file()
    )
    for value in (VALUE, ROTATED):
        assert value not in dump and value not in log
    assert "token is ***" in dump  # the captured print, masked


def test_an_open_secrets_file_stops_the_start(home: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    write_secrets(secrets, VALUE)
    os.chmod(secrets, 0o640)
    r = subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(home), "daemon", "start",
         "--secrets-file", str(secrets)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 1
    assert "is open to other users (mode 0640)" in r.stderr and "chmod 600" in r.stderr

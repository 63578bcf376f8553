"""`package run --secrets-file`: secret slots filled from a private local file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

VALUE = "tok-4f1d9e2b77"

SECRET_TASKS = """\
import cloaca

cloaca.workflow_secrets("api")


@cloaca.task
def call(context):
    token = context.secret_field("api", "token")
    print("calling with", token)
    context.set("token_length", len(token))
    return context
"""


def secrets_file(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_values_reach_the_task_and_nothing_prints_them(
    cli: Any, make_package: Any, tmp_path: Path
) -> None:
    root = make_package(tasks=SECRET_TASKS)
    js = secrets_file(tmp_path, "s.json", json.dumps({"api": {"token": VALUE}}))
    r = cli("package", "run", str(root), "--secrets-file", str(js), "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["output_context"]["token_length"] == len(VALUE)
    assert doc["output_context"]["api"] == {"$secret": "api"}
    assert "calling with ***" in r.stdout
    assert VALUE not in r.stdout + r.stderr

    # TOML, a slot bound to another name, and the file named by the environment
    toml = secrets_file(tmp_path, "s.toml", f'[other]\ntoken = "{VALUE}x"\n')
    r = cli("package", "run", str(root), "--json", "--context", "-",
            input='{"api": {"$secret": "other"}}', env={"CLOACINA_SECRETS_FILE": str(toml)},
            timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output_context"]["token_length"] == len(VALUE) + 1
    assert VALUE not in r.stdout + r.stderr


def test_refusals_exit_1_before_running(cli: Any, make_package: Any, tmp_path: Path) -> None:
    root = make_package(tasks=SECRET_TASKS)
    good = json.dumps({"api": {"token": VALUE}})
    cases = [
        ([], "declares secret slots (api) and no secrets file was given"),
        (["--secrets-file", str(secrets_file(tmp_path, "open.json", good, 0o644))],
         "is open to other users (mode 0644)"),
        (["--secrets-file", str(secrets_file(tmp_path, "none.json", '{"x": {"a": "bcde"}}'))],
         "has no secret 'api' (slot 'api')"),
        (["--secrets-file", str(secrets_file(tmp_path, "bad.json", '{"api": {"token": 5}}'))],
         "secret 'api': field 'token': values are strings"),
        (["--secrets-file", str(secrets_file(tmp_path, "broken.json", '{"api": '))],
         "is not valid JSON"),
    ]  # fmt: skip
    for args, message in cases:
        r = cli("package", "run", str(root), *args, timeout=120)
        assert r.returncode == 1, (args, r.stderr)
        assert message in r.stderr, r.stderr
        assert "calling with" not in r.stdout + r.stderr
    # a literal value for a slot is refused, and not echoed
    js = secrets_file(tmp_path, "s.json", good)
    r = cli("package", "run", str(root), "--context", "-", "--secrets-file", str(js),
            input=json.dumps({"api": VALUE}), timeout=120)  # fmt: skip
    assert r.returncode == 1
    assert "secret slot 'api' takes a binding" in r.stderr and VALUE not in r.stderr

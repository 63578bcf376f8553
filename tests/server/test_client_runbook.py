"""The operator's runbook, typed as a user would, against a real cloacina-server:
bootstrap key → profile → tenant → key → publish → run → follow → inspect → clean up.
On SQLite, and on PostgreSQL when CLOACINA_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from server_helpers import RunningServer

SLOW_TASKS = '''
import time

import cloaca


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    time.sleep(float(context.get("sleep") or 0))
    context.set("records", context.get("records") or [3, 5, 8])
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    if context.get("fail"):
        raise RuntimeError("asked to fail")
    records = context.get("records") or []
    context.set("summary", {"count": len(records), "total": sum(records)})
    return context


@cloaca.trigger(on="etl", cron="0 * * * *")
def hourly():
    """Every hour."""
'''


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request: pytest.FixtureRequest) -> RunningServer:
    name = "server" if request.param == "sqlite" else "pg_server"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_runbook(cli: Any, any_server: RunningServer, tmp_path: Path) -> None:
    server = any_server
    routes = server.client().get("/openapi.json").json()["paths"]
    if not any(path.endswith("/events/stream") for path in routes):
        pytest.skip("this server has no workflow/execution routes yet")
    # bootstrap key -> a default profile that reads it from a file
    admin_key = tmp_path / "admin.key"
    admin_key.write_text(server.key + "\n")
    ok(
        cli(
            "config",
            "profile",
            "set",
            "admin",
            "--server",
            server.url,
            "--api-key",
            f"file:{admin_key}",
            "--default",
        )
    )
    ok(cli("config", "profile", "check"))

    # a tenant and a write key for it, kept in the environment
    tenant = f"acme_{uuid.uuid4().hex[:8]}"
    assert tenant in ok(cli("tenant", "create", tenant, "--description", "Acme"))
    ci_key = ok(
        cli("--tenant", tenant, "key", "create", "ci", "--role", "write", "-o", "id")
    ).strip()
    ok(cli("config", "profile", "set", "ci", "--server", server.url, "--api-key", "env:CI_KEY"))
    env = {"CI_KEY": ci_key}

    def ci(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return cli("--profile", "ci", "--tenant", tenant, *args, env=env, **kw)

    # publish a package folder
    ok(cli("package", "new", "etl", "--dir", str(tmp_path)))
    (tmp_path / "etl" / "workflow" / "etl" / "tasks.py").write_text(SLOW_TASKS)
    package_id = ok(ci("package", "publish", str(tmp_path / "etl"), "-o", "id")).strip()
    assert package_id
    listed = ok(ci("workflow", "list"))
    assert listed.splitlines()[0].split()[:2] == ["WORKFLOW", "NAME"] and "etl" in listed
    inspected = ok(ci("workflow", "inspect", "etl"))
    assert "extract" in inspected and "summarize" in inspected and "task graph" in inspected

    # run with a context file, follow the running execution to its end
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"sleep": 1.5, "records": [1, 2]}))
    execution = ok(ci("workflow", "run", "etl", "--context", str(context), "-o", "id")).strip()
    followed = ci("execution", "events", execution, "--follow", "--no-color")
    assert followed.returncode == 0, followed.stderr
    kinds = [line.split()[2] for line in followed.stdout.splitlines()]
    assert kinds.index("task_completed") < len(kinds) - 1 and kinds[-1] == "workflow_completed"
    seqs = [int(line.split()[1].lstrip("#")) for line in followed.stdout.splitlines()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    # -o id piped into execution status, as the reference shows
    ids = ok(ci("execution", "list", "--workflow", "etl", "-o", "id")).split()
    assert ids == [execution]
    status = ok(ci("execution", "status", ids[0]))
    assert "Completed" in status and "extract" in status and "summarize" in status
    detail = json.loads(ok(ci("execution", "status", execution, "-o", "json")))
    assert detail["status"] == "Completed"
    assert {t["task_name"] for t in detail["tasks"]} == {"extract", "summarize"}

    # --wait exits by outcome: 5 for a failed run
    failed = ci("workflow", "run", "etl", "--context", "-", "--wait", input='{"fail": true}')
    assert failed.returncode == 5, failed.stderr
    assert "task_failed" in failed.stdout and "Failed" in failed.stderr

    # triggers: list, pause, resume
    assert "hourly" in ok(ci("trigger", "list", "-o", "id")).split()
    ok(ci("trigger", "pause", "hourly"))
    assert (
        json.loads(ok(ci("trigger", "inspect", "hourly", "-o", "json")))["schedule"]["paused"]
        is True
    )
    ok(ci("trigger", "resume", "hourly"))

    # exit codes provoked for real
    assert ci("execution", "status", str(uuid.uuid4())).returncode == 3
    corrupt = tmp_path / "corrupt.cloacina"
    corrupt.write_bytes(b"this is not an archive")
    bad_upload = ci("package", "upload", str(corrupt))
    assert bad_upload.returncode == 5 and "HTTP 400" in bad_upload.stderr

    # clean up: the package, the key, the tenant
    assert package_id in ok(ci("package", "list", "--filter", "et", "-o", "id")).split()
    assert "success" in ok(ci("package", "inspect", package_id))
    ok(ci("package", "delete", package_id, "--force"))
    assert "etl" not in ok(ci("workflow", "list", "-o", "id")).split()
    key_id = next(
        row["id"]
        for row in json.loads(ok(cli("--tenant", tenant, "key", "list", "-o", "json")))["items"]
        if row["name"] == "ci"
    )
    ok(cli("--tenant", tenant, "key", "revoke", key_id, "--force"))
    revoked = ci("workflow", "list")
    assert revoked.returncode == 4 and "unauthorized" in revoked.stderr
    ok(cli("tenant", "delete", tenant, "--force"))
    assert tenant not in ok(cli("tenant", "list", "-o", "id")).split()

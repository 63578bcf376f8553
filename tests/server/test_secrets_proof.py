"""The proof: a secret-using workflow runs in service mode, then its value is searched
for (and not found) in every table of the database, every log file and every answer.

The secret is created, listed, read and rotated through the real server's HTTP API;
the package is stored in the same database and run by the server's own per-tenant
runtime, its input checked by the execute route's check (``services.server.inputs``).
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from server_helpers import stored_upload

from cloacinactl.packages import pack_dir
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.inputs import checked_context
from cloacinactl.services.server.main import parse
from cloacinactl.services.server.serverruntime import ServerRuntime
from cloacinactl.services.server.state import ServerState
from cloacinactl.store import open_store
from cloacinactl.store.registry import DefCache

KEK = base64.b64encode(os.urandom(32)).decode()
VALUE = "proof-secret-4c0ffee-77aa"
ROTATED = "proof-rotated-8badf00d-1234"

TASKS = """\
import cloaca

cloaca.workflow_params(region=(str, "eu"))
cloaca.workflow_secrets("api")


@cloaca.task
def call(context):
    token = context.secret_field("api", "token")
    print("calling", context.get("region"), "with", token)
    context.set("token_length", len(token))
    return context


@cloaca.task(dependencies=["call"])
def fails(context):
    if context.get("region") == "boom":
        raise RuntimeError("refused " + context.secret_field("api", "token"))
    return context
"""

MANIFEST = """\
[package]
name = "proof"
version = "1.0.0"

[metadata]
workflow_name = "proof"
entry_module = "proof.tasks"
"""


def _package(tmp_path: Path) -> bytes:
    root = tmp_path / "proof-src"
    (root / "workflow" / "proof").mkdir(parents=True)
    (root / "workflow" / "proof" / "__init__.py").write_text("")
    (root / "workflow" / "proof" / "tasks.py").write_text(TASKS)
    (root / "package.toml").write_text(MANIFEST)
    return pack_dir(root, tmp_path / "proof.cloacina").path.read_bytes()


def _store_package(store: Any, data: bytes) -> None:
    stored_upload(store, data)


def _every_row(db: Path) -> str:
    conn = sqlite3.connect(str(db))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out.append(
                    " ".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
                )
        return "\n".join(out)
    finally:
        conn.close()


async def test_secret_value_is_nowhere(
    start_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(env={"CLOACINA_SECRET_KEK": KEK})
    answers: list[str] = []
    c = server.client()

    def call(method: str, path: str, body: Any = None) -> Any:
        r = c.request(method, path, json=body)
        answers.append(r.text + repr(dict(r.headers)))
        return r

    assert (
        call(
            "POST", "/v1/tenants/public/secrets", {"name": "prod-api", "fields": {"token": VALUE}}
        ).status_code
        == 201
    )
    assert call("GET", "/v1/tenants/public/secrets").status_code == 200
    assert call("GET", "/v1/tenants/public/secrets/prod-api").status_code == 200

    monkeypatch.setenv("CLOACINA_SECRET_KEK", KEK)
    config = parse(["--home", str(tmp_path / "h2"), "--database-url", server.database_url])
    store = open_store(server.database_url)
    try:
        _store_package(store, _package(tmp_path))
        state = ServerState(config, store)
        runtime = ServerRuntime(
            tmp_path / "cache", workers=1, reconcile_interval_s=60, secret_kek=config.secret_kek
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.serve)
            await runtime.tenant_added("public", store)
            tenant = runtime.tenant("public")
            reg = store.read(lambda conn: DefCache().active(conn, "proof"))
            wf = reg.workflow
            assert wf.secrets == ("api",)

            # refused before anything runs, naming the problem, never the value
            for ctx, status, code in [
                ({"api": VALUE}, 400, "workflow_input_invalid"),
                ({"api": {"$secret": "nope"}}, 400, "secret_not_found"),
                ({"region": 5, "api": {"$secret": "prod-api"}}, 400, "workflow_input_invalid"),
            ]:
                with pytest.raises(ApiError) as info:
                    await checked_context(state, "public", wf, ctx)
                assert (info.value.status, info.value.code) == (status, code)
                assert VALUE not in str(info.value)
                answers.append(str(info.value))

            async def run(ctx: dict[str, Any]) -> Any:
                eid = await tenant.execute("proof", await checked_context(state, "public", wf, ctx))
                with trio.fail_after(60):
                    return await tenant.runner.wait(eid)

            first = await run({"api": {"$secret": "prod-api"}})
            assert first.status == "Completed", first
            assert first.output["token_length"] == len(VALUE) and first.output["region"] == "eu"
            assert (
                call(
                    "PUT", "/v1/tenants/public/secrets/prod-api", {"fields": {"token": ROTATED}}
                ).status_code
                == 200
            )
            second = await run({"api": {"$secret": "prod-api"}})
            assert second.output["token_length"] == len(ROTATED)
            failed = await run({"api": {"$secret": "prod-api"}, "region": "boom"})
            assert failed.status == "Failed"
            assert "refused ***" in (failed.tasks["fails"].error or "")
            for path in (
                "/v1/tenants/public/secrets",
                "/v1/tenants/public/secrets/prod-api",
                "/v1/health/status",
            ):
                call("GET", path)
            await runtime.tenant_removed("public")
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    assert call("DELETE", "/v1/tenants/public/secrets/prod-api").status_code == 200
    server.stop()

    db = Path(server.database_url.removeprefix("sqlite:///"))
    rows = _every_row(db)
    assert "calling eu with ***" in rows and "refused ***" in rows  # the search sees the runs
    logs = "".join(
        p.read_text(errors="replace")
        for home in (server.home, tmp_path / "h2")
        for p in home.rglob("*.log*")
        if p.is_file()
    )
    assert logs  # the server wrote its log
    everything = rows + logs + "".join(answers)
    for value in (VALUE, ROTATED):
        assert value not in everything
        assert base64.b64encode(value.encode()).decode() not in everything

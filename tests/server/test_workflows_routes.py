"""Workflow and package routes against a real cloacina-server: upload → runnable →
execute → completed, the refusals (malformed, oversize, conflicting, unsigned,
not importable), pause/resume, source, delete; shapes as the upstream document."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract import assert_shape
from server_helpers import RunningServer

from cloacinactl.packages import pack_dir
from cloacinactl.packages.scaffold import scaffold
from cloacinactl.packages.signing import keygen, load_private_key, sign_archive
from cloacinactl.store import Store
from cloacinactl.store.executions import execution_detail
from cloacinactl.store.urls import parse_database_url

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PARAM_TASKS = """
import cloaca

cloaca.workflow_params(region=str, batch=(int, 10))


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    context.set("seen", [context.get("region"), context.get("batch")])
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    return context
"""


def example_archive(tmp_path: Path, name: str) -> bytes:
    return pack_dir(EXAMPLES / name, tmp_path / f"out-{name}").path.read_bytes()


def package_archive(tmp_path: Path, name: str, tasks: str | None = None, version: str = "") -> Path:
    """A scaffolded package (optionally with other tasks.py / version), packed."""
    folder = scaffold(tmp_path / f"src-{uuid.uuid4().hex[:6]}", name)
    module = name.replace("-", "_")
    if tasks is not None:
        (folder / "workflow" / module / "tasks.py").write_text(tasks)
    if version:
        manifest = folder / "package.toml"
        manifest.write_text(
            manifest.read_text().replace('version = "0.1.0"', f'version = "{version}"')
        )
    return pack_dir(folder, tmp_path / f"out-{uuid.uuid4().hex[:6]}").path


def upload(
    http: httpx.Client, tenant: str, data: bytes, sig: bytes | None = None
) -> httpx.Response:
    files: dict[str, Any] = {"file": ("p.cloacina", data, "application/octet-stream")}
    if sig is not None:
        files["signature"] = ("p.cloacina.sig", sig, "application/json")
    return http.post(f"/v1/tenants/{tenant}/workflows", files=files)


def wait_done(read: Callable[[], dict[str, Any]], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        detail = read()
        if detail["status"] in ("Completed", "Failed", "Cancelled"):
            return detail
        assert time.monotonic() < deadline, f"still {detail['status']}"
        time.sleep(0.05)


def public_execution(server: RunningServer, execution_id: str) -> dict[str, Any]:
    """The execution as stored in the server's public database (no other route needed)."""
    store = Store(parse_database_url(server.database_url))
    try:
        return wait_done(lambda: store.read(lambda c: execution_detail(c, execution_id)))
    finally:
        store.close()


def detail_shape(body: dict[str, Any]) -> None:
    """``WorkflowDetail``. Upstream types ``InputSlot.default`` as object-or-null (its
    generator's rendering of a JSON value), yet its server sends the default as it is
    declared (``"eu"``, ``10``), as we do: scalar defaults are left out of the check."""
    slots = [{k: v for k, v in s.items() if k != "default"} for s in body["declared_params"]]
    assert_shape({**body, "declared_params": slots}, "WorkflowDetail")


def error_code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert "x-request-id" in r.headers
    body = r.json()
    assert set(body) == {"error", "code"}, body
    return str(body["code"])


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upload_list_get_execute_completes(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: RunningServer = request.getfixturevalue(
        "server" if backend == "sqlite" else "pg_server"
    )
    http = server.client()
    r = upload(http, "public", example_archive(tmp_path, "linear-pipeline"))
    assert r.status_code == 201, r.text
    assert_shape(r.json(), "WorkflowUploadedResponse")
    package_id = r.json()["package_id"]
    assert r.json()["build_status"] == "success"

    listed = http.get("/v1/tenants/public/workflows").json()
    assert_shape(listed, "TenantListResponse_WorkflowSummary")
    assert [w["workflow_name"] for w in listed["items"]] == ["linear_pipeline"]
    assert listed["items"][0]["tasks"] == ["ingest", "clean", "report"]
    for key in ("linear_pipeline", "linear-pipeline", package_id):
        detail = http.get(f"/v1/tenants/public/workflows/{key}")
        assert detail.status_code == 200, detail.text
        detail_shape(detail.json())
        assert detail.json()["id"] == package_id
    graph = {n["id"]: n["dependencies"] for n in detail.json()["task_graph"]}
    assert graph == {"ingest": [], "clean": ["ingest"], "report": ["clean"]}

    started = http.post("/v1/tenants/public/workflows/linear_pipeline/execute", json={})
    assert started.status_code == 202, started.text
    assert_shape(started.json(), "ExecuteResponse")
    assert started.json()["status"] == "scheduled"
    done = public_execution(server, started.json()["execution_id"])
    assert done["status"] == "Completed" and done["trigger_origin"] == "manual"
    deadline = time.monotonic() + 10  # the metrics are read off the hot path
    while 'cloacina_workflows_total{status="completed"} 1.0' not in (
        text := http.get("/metrics").text
    ):
        assert time.monotonic() < deadline, text
        time.sleep(0.1)
    assert 'cloacina_tasks_total{status="completed"} 3.0' in text
    assert "cloacina_workflow_duration_seconds_count 1.0" in text

    # the same bytes again: the same package, nothing new stored
    again = upload(http, "public", example_archive(tmp_path, "linear-pipeline"))
    assert again.status_code == 201 and again.json()["package_id"] == package_id
    assert http.get("/v1/packages").json()["total"] == 1


def test_declared_params_checked_and_defaults_filled(server: RunningServer, tmp_path: Path) -> None:
    http = server.client()
    archive = package_archive(tmp_path, "params-pkg", PARAM_TASKS)
    assert upload(http, "public", archive.read_bytes()).status_code == 201
    detail = http.get("/v1/tenants/public/workflows/params_pkg").json()
    detail_shape(detail)
    slots = {s["name"]: s for s in detail["declared_params"]}
    assert slots["region"]["required"] is True and slots["region"]["schema"] == {"type": "string"}
    assert slots["batch"]["default"] == 10

    path = "/v1/tenants/public/workflows/params_pkg/execute"
    missing = http.post(path, json={"context": {}})
    assert error_code(missing, 400) == "workflow_input_invalid"
    assert "region" in missing.json()["error"]
    wrong = http.post(path, json={"context": {"region": "eu", "batch": "many"}})
    assert error_code(wrong, 400) == "workflow_input_invalid" and "batch" in wrong.json()["error"]
    assert error_code(http.post(path, json={"context": [1, 2]}), 400) == "invalid_request"
    assert error_code(http.post(path, json={"contxt": {}}), 400) == "invalid_request"
    bad_json = http.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert error_code(bad_json, 400) == "invalid_json"

    ok = http.post(path, json={"context": {"region": "eu"}})
    assert ok.status_code == 202, ok.text
    done = public_execution(server, ok.json()["execution_id"])
    assert done["status"] == "Completed"
    assert done["output_context"]["seen"] == ["eu", 10]


def test_pause_resume_unknown_and_delete(server: RunningServer, tmp_path: Path) -> None:
    http = server.client()
    assert upload(http, "public", example_archive(tmp_path, "fan-out-fan-in")).status_code == 201
    name = http.get("/v1/tenants/public/workflows").json()["items"][0]["workflow_name"]
    base = f"/v1/tenants/public/workflows/{name}"

    paused = http.post(f"{base}/pause")
    assert paused.status_code == 200, paused.text
    assert_shape(paused.json(), "WorkflowPauseResponse")
    assert paused.json()["paused"] is True and paused.json()["status"] == "paused"
    assert http.get(base).json()["paused"] is True
    assert error_code(http.post(f"{base}/execute", json={}), 409) == "workflow_paused"
    resumed = http.post(f"{base}/resume")
    assert resumed.json()["paused"] is False and resumed.json()["status"] == "resumed"
    assert http.post(f"{base}/execute", json={}).status_code == 202

    for method, path in (
        ("GET", "/v1/tenants/public/workflows/nope"),
        ("POST", "/v1/tenants/public/workflows/nope/execute"),
        ("POST", "/v1/tenants/public/workflows/nope/pause"),
        ("GET", "/v1/tenants/public/workflows/nope/source"),
    ):
        r = http.request(method, path, json={} if method == "POST" else None)
        assert error_code(r, 404) == "workflow_not_found", path

    source = http.get(f"{base}/source")
    assert source.status_code == 200, source.text
    assert_shape(source.json(), "WorkflowSourceResponse")
    paths = {f["path"]: f for f in source.json()["files"]}
    assert "package.toml" in paths
    python = [f for p, f in paths.items() if p.endswith(".py") and "@cloaca.task" in f["contents"]]
    assert python and python[0]["language"] == "python"

    version = http.get(base).json()["version"]
    gone = http.delete(f"{base}/{version}")
    assert gone.status_code == 200, gone.text
    assert_shape(gone.json(), "WorkflowDeletedResponse")
    assert http.get("/v1/tenants/public/workflows").json()["items"] == []
    assert error_code(http.post(f"{base}/execute", json={}), 404) == "workflow_not_found"
    assert http.delete(f"{base}/{version}").status_code == 200  # idempotent, as upstream


def test_bad_uploads_are_refused_and_store_nothing(server: RunningServer, tmp_path: Path) -> None:
    http = server.client()
    tenant = server.new_tenant("bad")
    base = f"/v1/tenants/{tenant}/workflows"
    r = upload(http, tenant, b"this is not an archive")
    assert error_code(r, 400) == "invalid_package" and "bzip2" in r.json()["error"]
    assert error_code(upload(http, tenant, b""), 400) == "invalid_package"
    no_file = http.post(base, files={"other": ("x", b"data")})
    assert error_code(no_file, 400) == "invalid_request" and "file" in no_file.json()["error"]
    not_multipart = http.post(base, json={"file": "x"})
    assert not_multipart.status_code == 400

    raising = package_archive(tmp_path, "raiser", "raise RuntimeError('boom at import')\n")
    r = upload(http, tenant, raising.read_bytes())
    assert error_code(r, 400) == "invalid_package" and "boom at import" in r.json()["error"]

    first = package_archive(tmp_path, "twice")
    assert upload(http, tenant, first.read_bytes()).status_code == 201
    other = package_archive(tmp_path, "twice", PARAM_TASKS.replace("region=str, ", ""))
    assert error_code(upload(http, tenant, other.read_bytes()), 409) == "package_exists"
    listed = http.get(base).json()["items"]
    assert [w["package_name"] for w in listed] == ["twice"]  # the raiser left nothing
    # the stored version is untouched: still the scaffold's two tasks
    assert listed[0]["tasks"] == ["extract", "summarize"]
    assert upload(http, "no_such_tenant", first.read_bytes()).status_code == 404


def test_oversize_upload_is_413(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(None, "--max-upload-mb", "1")
    r = upload(server.client(), "public", b"\0" * (2 * 1024 * 1024))
    assert error_code(r, 413) == "payload_too_large"
    assert server.client().get("/v1/packages").json()["items"] == []


def test_signatures_required(start_server: Callable[..., RunningServer], tmp_path: Path) -> None:
    trusted, trusted_pub, _ = keygen(tmp_path / "trusted.key")
    stranger, _, _ = keygen(tmp_path / "stranger.key")
    server = start_server(None, "--require-signatures", "--trusted-key", str(trusted_pub))
    http = server.client()
    archive = package_archive(tmp_path, "signed")
    data = archive.read_bytes()
    assert error_code(upload(http, "public", data), 403) == "signature_not_found"

    sign_archive(archive, load_private_key(stranger))
    by_stranger = archive.with_name(archive.name + ".sig").read_bytes()
    assert error_code(upload(http, "public", data, by_stranger), 403) == "untrusted_signer"

    sign_archive(archive, load_private_key(trusted))
    good = archive.with_name(archive.name + ".sig").read_bytes()
    assert error_code(upload(http, "public", data + b"\0", good), 403) == "package_tampered"
    assert error_code(upload(http, "public", data, b"{}"), 403) == "invalid_signature"
    assert http.get("/v1/packages").json()["items"] == []
    ok = upload(http, "public", data, good)
    assert ok.status_code == 201, ok.text


def test_packages_by_id_and_tenant_isolation(shared_server: RunningServer, tmp_path: Path) -> None:
    tenant = shared_server.new_tenant("pk")
    other = shared_server.new_tenant("pk_other")
    writer = shared_server.client(shared_server.new_key(tenant, "write"))
    reader = shared_server.client(shared_server.new_key(tenant, "read"))
    stranger = shared_server.client(shared_server.new_key(other, "admin"))
    r = upload(writer, tenant, example_archive(tmp_path, "linear-pipeline"))
    assert r.status_code == 201, r.text
    package_id = r.json()["package_id"]

    listed = reader.get("/v1/packages").json()
    assert listed["tenant_id"] == tenant and listed["total"] == 1
    item = listed["items"][0]
    assert item["id"] == package_id and item["build_status"] == "success"
    assert reader.get(f"/v1/packages/{package_id}").json() == item
    assert stranger.get("/v1/packages").json()["items"] == []
    assert error_code(stranger.get(f"/v1/packages/{package_id}"), 404) == "package_not_found"
    denied = stranger.get("/v1/packages", params={"tenant": tenant})
    assert error_code(denied, 403) == "tenant_access_denied"
    admin = shared_server.client()
    assert admin.get("/v1/packages", params={"tenant": tenant}).json()["items"] == [item]
    assert error_code(admin.get("/v1/packages/not-a-uuid"), 400) == "invalid_package_id"

    assert (
        error_code(reader.delete(f"/v1/packages/{package_id}"), 403) == "insufficient_permissions"
    )
    gone = writer.delete(f"/v1/packages/{package_id}")
    assert gone.status_code == 200 and gone.json()["id"] == package_id
    assert error_code(writer.delete(f"/v1/packages/{package_id}"), 404) == "package_not_found"
    assert writer.get(f"/v1/tenants/{tenant}/workflows").json()["items"] == []
    run = writer.post(f"/v1/tenants/{tenant}/workflows/linear_pipeline/execute", json={})
    assert error_code(run, 404) == "workflow_not_found"
    status = admin.get("/v1/health/status").json()
    assert status["tenant_runtimes"][tenant]["workflows"] == []
    assert json.dumps(status)  # the status document stays JSON


def test_uploaded_graph_package_runs_in_the_server(server: RunningServer, tmp_path: Path) -> None:
    """A computation-graph package uploaded through the API loads into the tenant's
    graph runtime: it is listed, takes an injected event and fires."""
    http = server.client()
    r = upload(http, "public", example_archive(tmp_path, "market-graph"))
    assert r.status_code == 201, r.text
    graphs = http.get("/v1/health/graphs").json()["items"]
    assert [g["name"] for g in graphs] == ["market_maker"]
    before = len(http.get("/v1/health/reactors/market_maker/fires").json()["items"])
    bad = http.post("/v1/health/accumulators/orderbook/inject", json={"event": {"bid": "x"}})
    assert error_code(bad, 400) == "invalid_event"
    ok = http.post(
        "/v1/health/accumulators/orderbook/inject", json={"event": {"bid": 1.0, "ask": 1.2}}
    )
    assert ok.status_code == 200, ok.text
    deadline = time.monotonic() + 30
    while len(http.get("/v1/health/reactors/market_maker/fires").json()["items"]) <= before:
        assert time.monotonic() < deadline, "the reactor never fired"
        time.sleep(0.1)
    version = http.get("/v1/packages").json()["items"][0]["version"]
    assert http.delete(f"/v1/tenants/public/workflows/market-graph/{version}").status_code == 200
    assert http.get("/v1/health/graphs").json()["items"] == []

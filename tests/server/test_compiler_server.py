"""A real server and a real compiler on one database: the server's view of the build
queue, and a tenant created through the API is built by the running compiler."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent.parent / "compiler"))

from build_helpers import source_archive, upload
from compiler_procs import Compiler, wait_status
from svc_helpers import Services, wait_for

from cloacinactl.store import open_store
from cloacinactl.store.packages import get_package


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    s = Services(tmp_path / "svc")
    try:
        yield s
    finally:
        s.cleanup()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_server_reports_the_compiler_and_new_tenants_get_built(
    start_server, services: Services, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    db_url = (
        str(request.getfixturevalue("fresh_pg_url"))
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'shared.db'}"
    )
    server = start_server(db_url)
    admin = server.client()
    before = admin.get("/v1/compiler/status")
    assert before.status_code == 200, before.text
    assert before.json()["alive"] is False

    # a backlog while no compiler runs: the server says so
    with open_store(db_url) as store:
        first = upload(store, source_archive(tmp_path / "a", "early-pkg"), "early-pkg")
    body = admin.get("/v1/compiler/status").json()
    assert body["status"] == "backlogged" and body["pending"] == 1

    compiler = Compiler(services, tmp_path / "compiler", db_url)
    row = wait_status(db_url, first, ("success", "failed"))
    assert row.build_status == "success", row.build_error
    wait_for(lambda: admin.get("/v1/compiler/status").json()["alive"] is True, what="alive")
    body = admin.get("/v1/compiler/status").json()
    assert body["status"] == "idle" and body["pending"] == 0 and body["last_success_at"]

    # a tenant created through the API at run time: the compiler finds and builds it
    tenant = server.new_tenant("built")
    with open_store(db_url, tenant=tenant) as store:
        pid = upload(store, source_archive(tmp_path / "b", "tenant-pkg"), "tenant-pkg")

        def built() -> bool:
            return store.read(lambda c: get_package(c, pid)).build_status == "success"

        wait_for(built, timeout=60, what="tenant build")
    assert tenant in compiler.status()["tenants"]


def test_upload_through_the_api_is_built_then_runs(
    start_server, services: Services, tmp_path: Path
) -> None:
    """With a compiler heartbeating, an upload is left pending, the compiler builds it,
    and the server loads the signed artifact on its own (no reconcile interval wait)."""
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    server = start_server(db_url, "--reconcile-interval-s", "300")
    admin = server.client()
    Compiler(services, tmp_path / "compiler", db_url)
    wait_for(lambda: admin.get("/v1/compiler/status").json()["alive"] is True, what="alive")

    files = {"file": ("p.cloacina", source_archive(tmp_path / "src", "api-built"))}
    r = admin.post("/v1/tenants/public/workflows", files=files)
    assert r.status_code == 201, r.text
    assert r.json()["build_status"] == "pending"
    path = "/v1/tenants/public/workflows/api-built"
    early = admin.get(path).json()
    assert early["build_status"] in ("pending", "building", "success")

    def runnable() -> bool:
        detail = admin.get(path).json()
        assert detail["build_status"] != "failed", detail["build_error"]
        return detail["build_status"] == "success" and bool(detail["tasks"])

    wait_for(runnable, timeout=90, what="built and loaded")
    started = admin.post(f"{path}/execute", json={})
    assert started.status_code == 202, started.text
    with open_store(db_url) as store:
        from cloacinactl.store.executions import execution_detail

        def finished() -> bool:
            row = store.read(lambda c: execution_detail(c, started.json()["execution_id"]))
            return row["status"] in ("Completed", "Failed")

        wait_for(finished, timeout=60, what="execution finished")
        detail = store.read(lambda c: execution_detail(c, started.json()["execution_id"]))
    assert detail["status"] == "Completed", detail
    package = admin.get(f"/v1/packages/{r.json()['package_id']}").json()
    assert package["build_status"] == "success" and package["build_error"] is None


def test_failed_build_shows_in_workflow_and_package_inspect(
    start_server, services: Services, tmp_path: Path, cli
) -> None:
    """A package whose import raises: the client's ``workflow inspect`` and ``package
    inspect`` show ``failed`` and the reason (build paths scrubbed); it does not run."""
    import json

    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    server = start_server(db_url)
    admin = server.client()
    Compiler(services, tmp_path / "compiler", db_url)
    wait_for(lambda: admin.get("/v1/compiler/status").json()["alive"] is True, what="alive")
    tasks = "raise RuntimeError('no warehouse configured in ' + __file__)\n"
    files = {"file": ("p.cloacina", source_archive(tmp_path / "src", "api-broken", tasks=tasks))}
    r = admin.post("/v1/tenants/public/workflows", files=files)
    assert r.status_code == 201, r.text
    package_id = r.json()["package_id"]
    wait_status(db_url, package_id, ("failed", "success"))

    target = ("--server", server.url, "--api-key", server.key)
    expected = "RuntimeError: no warehouse configured in <build>/"
    for verb in (("workflow", "inspect", "api-broken"), ("package", "inspect", package_id)):
        shown = cli(*target, "-o", "json", *verb)
        assert shown.returncode == 0, shown.stderr
        doc = json.loads(shown.stdout)
        assert doc["build_status"] == "failed", doc
        assert expected in doc["build_error"] and str(tmp_path) not in doc["build_error"]
        table = cli(*target, *verb)
        assert table.returncode == 0, table.stderr
        assert "failed" in table.stdout
        # the whole error, not the key/value table's cut to the terminal's width
        assert "\nbuild error:\n  " + doc["build_error"] in table.stdout
    refused = admin.post("/v1/tenants/public/workflows/api-broken/execute", json={})
    assert refused.status_code == 404 and "build status: failed" in refused.text


def test_a_build_changed_or_signed_by_an_unknown_key_is_not_loaded(
    start_server, services: Services, tmp_path: Path
) -> None:
    """Servers run a compiler's artifact only with a signature by a key recorded on the
    database (or the operator's): bytes changed after signing, or a signature by
    another key, keep that package out of every server; the others still run."""
    import hashlib

    from sqlalchemy import update

    from cloacinactl.packages.signing import signature_document
    from cloacinactl.store import schema as s

    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    server = start_server(db_url, "--reconcile-interval-s", "300")
    admin = server.client()
    Compiler(services, tmp_path / "compiler", db_url)
    wait_for(lambda: admin.get("/v1/compiler/status").json()["alive"] is True, what="alive")
    ids = {}
    for name in ("kept-pkg", "changed-pkg", "resigned-pkg"):
        files = {"file": ("p.cloacina", source_archive(tmp_path / name, name))}
        r = admin.post("/v1/tenants/public/workflows", files=files)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["package_id"]
    for name in ids:
        wait_for(
            lambda name=name: bool(
                admin.get(f"/v1/tenants/public/workflows/{name}").json()["tasks"]
            ),
            timeout=90,
            what=f"{name} built and loaded",
        )

    B = s.package_artifacts.c
    with open_store(db_url) as store:
        kept = store.read(
            lambda c: (
                c.execute(s.package_artifacts.select().where(B.package_id == ids["kept-pkg"]))
                .one()
                ._mapping
            )
        )
        other = bytes(kept["archive"])  # a good build, but not the one its signature covers
        intruder = Ed25519PrivateKey.generate()

        def forge(c: Any) -> None:
            digest = hashlib.sha256(other).hexdigest()
            c.execute(
                update(s.package_artifacts)
                .where(B.package_id == ids["changed-pkg"])
                .values(archive=other, sha256=digest, size=len(other))
            )
            resigned = c.execute(
                s.package_artifacts.select().where(B.package_id == ids["resigned-pkg"])
            ).one()
            c.execute(
                update(s.package_artifacts)
                .where(B.package_id == ids["resigned-pkg"])
                .values(signature=signature_document(resigned.sha256, intruder))
            )
            now = dt.datetime.now(dt.UTC)
            c.execute(
                update(s.packages)
                .where(s.packages.c.id.in_([ids["changed-pkg"], ids["resigned-pkg"]]))
                .values(updated_at=now)
            )

        store.write(forge)

    def errors_of(srv: Any) -> dict[str, str]:
        body = srv.client().get("/v1/health/status").json()
        return body["tenant_runtimes"]["public"]["errors"]

    second = start_server(db_url, key=server.key)  # a server starting now
    changed, resigned = (f"{ids[n]}.cloacina" for n in ("changed-pkg", "resigned-pkg"))
    wait_for(lambda: {changed, resigned} <= set(errors_of(second)), timeout=30, what="refusals")
    errors = errors_of(second)
    assert f"{changed} was modified after signing" in errors[changed]
    assert f"{resigned} is signed by an untrusted key" in errors[resigned]
    expected = {"kept-pkg": 202, "changed-pkg": 404, "resigned-pkg": 404}
    for name, code in expected.items():
        r = second.client().post(f"/v1/tenants/public/workflows/{name}/execute", json={})
        assert r.status_code == code, (name, r.text)
    # the running server sees the changed bytes within a change check and drops them;
    # the bytes it checked and loaded before a new signature was written stay as they were
    wait_for(lambda: changed in errors_of(server), timeout=30, what="refusal on the first server")
    assert resigned not in errors_of(server)
    r = admin.post("/v1/tenants/public/workflows/changed-pkg/execute", json={})
    assert r.status_code == 404, r.text

"""A real server and a real compiler on one database: the server's view of the build
queue, and a tenant created through the API is built by the running compiler."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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

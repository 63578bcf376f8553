"""The server's per-tenant runtime against a real store, real workers and real packages."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from server_helpers import stored_upload

from cloacinactl.packages import PackageError, pack_dir
from cloacinactl.services.server.serverruntime import ServerRuntime
from cloacinactl.services.server.uploads import check_upload
from cloacinactl.store import open_store
from cloacinactl.store.executions import execution_detail, execution_tasks, list_events
from cloacinactl.store.packages import delete_package

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _upload(store, tmp_path: Path, example: str) -> str:  # type: ignore[no-untyped-def]
    archive = pack_dir(EXAMPLES / example, tmp_path / f"{example}.cloacina").path
    data = archive.read_bytes()
    return stored_upload(store, data)


async def test_tenant_runs_stored_packages_and_stops(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/server.db")
    try:
        package_id = _upload(store, tmp_path, "linear-pipeline")
        runtime = ServerRuntime(tmp_path / "cache", workers=1, reconcile_interval_s=60)
        async with trio.open_nursery() as nursery:
            await nursery.start(runtime.serve)
            await runtime.tenant_added("public", store)
            tenant = runtime.tenant("public")
            assert tenant.status()["workflows"] == ["linear_pipeline"]
            eid = await tenant.execute("linear_pipeline", {})
            assert tenant.runner is not None
            with trio.fail_after(60):
                result = await tenant.runner.wait(eid)
            assert result.status == "Completed", result
            detail = store.read(lambda c: execution_detail(c, eid))
            assert detail["status"] == "Completed" and detail["trigger_origin"] == "manual"
            tasks = store.read(lambda c: execution_tasks(c, eid))
            assert [t["status"] for t in tasks] == ["Completed"] * len(tasks)
            events = store.read(lambda c: list_events(c, eid, after_seq=1))
            assert events[0]["sequence_num"] == 2
            assert events[-1]["event_type"] == "workflow_completed"
            # a package deleted from the database is unloaded at the next reconcile
            store.write(lambda c: delete_package(c, package_id))
            await tenant.reconcile()
            assert tenant.status()["workflows"] == []
            await runtime.tenant_removed("public")
            with pytest.raises(Exception, match="not running"):
                runtime.tenant("public")
            assert not (tmp_path / "cache" / "public").exists()
            nursery.cancel_scope.cancel()
    finally:
        store.close()


def test_malformed_upload_is_a_package_error_naming_the_problem() -> None:
    with pytest.raises(PackageError, match="bzip2"):
        check_upload(b"this is not an archive", None, require_signature=False)
    with pytest.raises(PackageError, match="empty"):
        check_upload(b"", None, require_signature=False)

"""The server's task runner never runs a package from another server's folder: a task
of a package not loaded here waits for it to be loaded (a server that has just
started, or a package stored elsewhere a moment ago), with a real worker pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from cloacinactl.engine.taskrun import TaskOutcome, TaskRequest
from cloacinactl.packages import PackageLoader, pack_dir
from cloacinactl.services.server.host import LocalRootRunner
from cloacinactl.workers import PoolImporter, WorkerPool


async def test_tasks_wait_for_their_package_to_load_here(make_package: Any, tmp_path: Path) -> None:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    loader = PackageLoader(tmp_path / "cache", import_timeout=20)
    pool = WorkerPool(1, service="cloacina-test")
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        try:
            loaded = await loader.aload(archive, PoolImporter(pool))
            (wf,) = loaded.workflows()
            package_id = loaded.identity.id
            # the stored code names the folder of the server that registered it last,
            # which is gone here (another host, or that server stopped)
            elsewhere = {**loaded.source(), "root": str(tmp_path / "other-server" / "pkg")}
            request = TaskRequest("e1", wf.name, "first", 1, {}, elsewhere)
            roots: dict[str, str] = {}
            asked: list[str] = []

            async def reconcile_loads_it(pid: str) -> bool:
                asked.append(pid)
                await trio.sleep(0.2)  # a reconcile pass
                roots[pid] = str(loaded.root)
                return True

            runner = LocalRootRunner(pool, roots, reconcile_loads_it)
            first = await runner.run_task(request)
            assert first.ok, first.error
            assert asked == [package_id]
            assert (await runner.run_task(request)).ok
            assert asked == [package_id]  # loaded now: no second wait

            async def not_loadable_here(pid: str) -> bool:
                return False

            roots.clear()
            refusing = LocalRootRunner(pool, roots, not_loadable_here)
            refused = await refusing.run_task(request)
            assert not refused.ok and refused.error is not None
            assert refused.error["kind"] == "load_failed"
            assert f"package {package_id} is not loaded on this server" in refused.error["message"]

            # a batch: the refused one is delivered at once, the runnable one runs (its
            # stored folder is on this host: a deleted package's in-flight run)
            on_this_host = TaskRequest("e2", wf.name, "first", 1, {}, loaded.source())
            delivered: dict[int, TaskOutcome] = {}
            await refusing.run_tasks([request, on_this_host], delivered.__setitem__)
            assert not delivered[0].ok and delivered[1].ok, delivered
        finally:
            await pool.stop()

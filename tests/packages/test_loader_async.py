"""Loading from trio: through a real worker pool, and through the subprocess fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from cloacinactl.packages import (
    ImportFailedError,
    PackageLoader,
    pack_dir,
    sha256_file,
)
from cloacinactl.workers import PoolImporter, WorkerPool


async def test_aload_through_the_worker_pool(make_package: Any, tmp_path: Path) -> None:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    bad = pack_dir(
        make_package("bad-pkg", tasks="raise KeyError('nope')\n"), tmp_path / "b.cloacina"
    ).path
    loader = PackageLoader(tmp_path / "cache", import_timeout=20)
    pool = WorkerPool(1, service="cloacina-test")
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        try:
            loaded = await loader.aload(archive, PoolImporter(pool))
            (wf,) = loaded.workflows()
            assert [t.id for t in wf.tasks] == ["first", "second"]
            assert wf.content_hash == loaded.identity.sha256
            with pytest.raises(ImportFailedError, match="KeyError"):
                await loader.aload(bad, PoolImporter(pool))
            assert not (tmp_path / "cache" / sha256_file(bad)).exists()  # nothing left behind
            assert loaded.root.exists()
            loaded.unload()
            assert not loaded.root.exists()
        finally:
            await pool.stop()


async def test_aload_subprocess_fallback(make_package: Any, tmp_path: Path) -> None:
    archive = pack_dir(make_package(), tmp_path / "p.cloacina").path
    loaded = await PackageLoader(tmp_path / "cache").aload(archive)
    assert loaded.description["workflows"][0]["name"] == "demo_pkg"
    loaded.unload()

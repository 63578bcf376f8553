"""Graph packages written on the fly, and a real runtime (worker pool + SQLite store)."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from cloacinactl.engine.graphs import GraphRuntime
from cloacinactl.packages import LoadedPackage, PackageLoader, pack_dir
from cloacinactl.store import Store, open_store
from cloacinactl.workers import PoolImporter, WorkerPool

MANIFEST = """\
[package]
name = "{name}"
version = "{version}"

[metadata]
graph_name = "{graph}"
entry_module = "{module}.graph"
{extra}
"""

GraphPackage = Callable[..., Path]


@pytest.fixture
def graph_package(tmp_path: Path) -> GraphPackage:
    """``graph_package(name, graph, code, version=, extra=)``: a package folder."""

    def make(name: str, graph: str, code: str, *, version: str = "0.1.0", extra: str = "") -> Path:
        module = name.replace("-", "_")
        root = tmp_path / "src" / f"{name}-{version}"
        pkg = root / "workflow" / module
        pkg.mkdir(parents=True)
        (root / "package.toml").write_text(
            MANIFEST.format(name=name, version=version, graph=graph, module=module, extra=extra)
        )
        (pkg / "__init__.py").write_text("")
        (pkg / "graph.py").write_text(textwrap.dedent(code))
        return root

    return make


class Harness:
    def __init__(self, tmp: Path, store: Store, pool: WorkerPool, runtime: GraphRuntime) -> None:
        self.tmp = tmp
        self.store = store
        self.pool = pool
        self.runtime = runtime
        self.loader = PackageLoader(tmp / "cache", import_timeout=20)

    async def load(self, folder: Path) -> LoadedPackage:
        archive = pack_dir(folder, self.tmp / f"{folder.name}.cloacina").path
        package = await self.loader.aload(archive, PoolImporter(self.pool))
        await self.runtime.add_package(package.identity.name, _source(package), package.description)
        return package


def _source(package: LoadedPackage) -> Any:
    from cloacinactl.workers import source_from_dict

    return source_from_dict(package.source())


@asynccontextmanager
async def running(tmp: Path, *, db: Path | None = None, **kw: Any) -> AsyncIterator[Harness]:
    store = open_store(f"sqlite:///{db or tmp / 'graphs.db'}")
    pool = WorkerPool(1, service="cloacina-test")
    runtime = GraphRuntime(store, pool, **kw)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.serve)
            await nursery.start(runtime.serve)
            try:
                yield Harness(tmp, store, pool, runtime)
            finally:
                await pool.stop()
                nursery.cancel_scope.cancel()
    finally:
        store.close()

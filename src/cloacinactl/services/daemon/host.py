"""The daemon's ``PackageHost``: load an archive, register its workflows; unload it again.

Loading = the packages loader (hash, unpack into ``<home>/cache/packages/<sha>``,
import the entry module in a worker of the daemon's pool, with a timeout), then
the package row (``store.packages``) and its workflows in the engine's
registry, each pointing at the package source the workers import. Two archives
that declare the same package name are refused (the second one is reported
broken). Unloading deactivates the package's workflows (executions already
started keep their version) and removes the extracted tree unless another
loaded archive shares it (same bytes).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.engine.runner import Runner
from cloacinactl.errors import UserError
from cloacinactl.packages import LoadedPackage, PackageLoader
from cloacinactl.store.packages import upsert_package
from cloacinactl.store.registry import unregister as unregister_workflow
from cloacinactl.workers import PoolImporter


class PackageConflictError(UserError):
    """Another loaded archive already provides a package of the same name."""


class DaemonHost:
    """Loads packages into the daemon's engine (implements reconcile's ``PackageHost``)."""

    def __init__(
        self, loader: PackageLoader, runner: Runner, pool: Any, graphs: Any = None
    ) -> None:
        self.loader = loader
        self.runner = runner
        self.importer = PoolImporter(pool)
        self.graphs = graphs  # a GraphRuntime: the package's computation graphs run there
        self._by_name: dict[str, LoadedPackage] = {}
        self._trees: Counter[Path] = Counter()

    def packages(self) -> list[LoadedPackage]:
        return list(self._by_name.values())

    def workflow_names(self) -> list[str]:
        return sorted({wf.name for p in self._by_name.values() for wf in p.workflows()})

    async def load(self, path: Path) -> LoadedPackage:
        package = await self.loader.aload(path, self.importer)
        self._trees[package.cache_entry] += 1
        try:
            await self._register(package, path)
        except BaseException:
            await self._drop_tree(package)
            raise
        self._by_name[package.identity.name] = package
        return package

    async def _register(self, package: LoadedPackage, path: Path) -> None:
        ident = package.identity
        holder = self._by_name.get(ident.name)
        if holder is not None:
            raise PackageConflictError(
                f"package {ident.name!r} is already loaded from {holder.archive}"
            )
        now = dt.datetime.now(dt.UTC)
        row, _changed = await trio.to_thread.run_sync(
            self.runner.store.write,
            lambda c: upsert_package(
                c,
                name=ident.name,
                version=ident.version,
                content_hash=ident.sha256,
                now=now,
                manifest=package.manifest.to_dict(),
                archive_path=str(path),
                description=package.manifest.description,
            ),
        )
        source = package.source()
        if self.graphs is not None:
            from cloacinactl.workers import source_from_dict

            await self.graphs.add_package(ident.name, source_from_dict(source), package.description)
        for workflow in package.workflows():
            await self.runner.aregister(workflow, code=source, package_id=row.id)
        logger.debug(
            "workflows registered package={} workflows={}",
            ident.name,
            [w.name for w in package.workflows()],
        )

    async def unload(self, package: LoadedPackage) -> None:
        name = package.identity.name
        if self._by_name.get(name) is package:
            del self._by_name[name]
            if self.graphs is not None:
                await self.graphs.remove_package(name)
            names = [wf.name for wf in package.workflows()]

            def deactivate(conn: Any) -> None:
                for wf in names:
                    unregister_workflow(conn, wf)

            await trio.to_thread.run_sync(self.runner.store.write, deactivate)
            for wf in names:
                self.runner.executor.defs.forget_active(wf)
        await self._drop_tree(package)

    async def _drop_tree(self, package: LoadedPackage) -> None:
        entry = package.cache_entry
        self._trees[entry] -= 1
        if self._trees[entry] <= 0:
            del self._trees[entry]
            await trio.to_thread.run_sync(package.unload)

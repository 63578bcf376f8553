"""Importing a package in a running worker pool (the daemon's and the server's way)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloacinactl.packages.errors import ImportFailedError
from cloacinactl.packages.manifest import Manifest

from .sources import PackageSource


class PoolImporter:
    """Import packages in a running ``WorkerPool``; the worker keeps them cached.

    ``package_id`` is the identity id, the same one :meth:`LoadedPackage.source`
    sends with every task, so the worker that imported the package reuses it.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def import_package(
        self, root: Path, manifest: Manifest, timeout: float, *, package_id: str
    ) -> dict[str, Any]:
        source = PackageSource(package_id, str(root), manifest.to_dict())
        result = await self.pool.load(source, timeout=timeout)
        if result.error is not None:
            kind = result.error.kind
            message = result.error.message
            if kind == "timeout":
                message = f"importing the entry module did not finish within {timeout:g}s"
            raise ImportFailedError(message)
        if not isinstance(result.description, dict):
            raise ImportFailedError("the worker returned no package description")
        return {k: v for k, v in result.description.items() if k != "source_id"}

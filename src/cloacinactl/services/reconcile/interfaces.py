"""What the reconciler needs from the package loader and the schedule registry.

``cloacinactl.packages.LoadedPackage`` already satisfies ``PackageLike``; the
daemon wires a ``PackageHost`` (loader + workflow registry) and a
``ScheduleRegistry`` (store rows + the in-memory cron and poll schedulers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TypeVar


class IdentityLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def sha256(self) -> str: ...


class PackageLike(Protocol):
    """A loaded package: at least its identity (name, version, content hash)."""

    @property
    def identity(self) -> IdentityLike: ...


P = TypeVar("P", bound=PackageLike)
P_contra = TypeVar("P_contra", bound=PackageLike, contravariant=True)


class PackageHost(Protocol[P]):
    """Loads an archive (unpack, import in a worker, register its workflows) and
    unloads it again (unregister its workflows, remove its extracted tree)."""

    async def load(self, path: Path) -> P:
        """Raise on any failure; the message is shown as the package's error."""
        ...

    async def unload(self, package: P) -> None: ...


class ScheduleRegistry(Protocol[P_contra]):
    """A package's cron and poll triggers: store rows plus the live schedulers."""

    async def register(self, package: P_contra) -> None:
        """Replace every schedule of ``package.identity.name`` with the package's own.
        Raise if a trigger is invalid (the package is then reported broken)."""
        ...

    async def unregister(self, package_name: str) -> None:
        """Remove every schedule owned by ``package_name`` (idempotent)."""
        ...

    async def known_packages(self) -> set[str]:
        """Names of packages that own schedules in the database."""
        ...

"""Mirror a tenant's stored archives into a local folder the reconciler watches.

The database is the source of truth (every server on it sees every upload); the
daemon's reconciler already knows how to load, reload and unload a folder of
archives. So each reconcile tick copies the newest successful archive of each
package name to ``<folder>/<package id>.cloacina`` (written under a hidden name,
then renamed, so a pass never reads half a file) and removes files whose package
is gone, superseded or no longer buildable. Only changed files are fetched. A
compiler's artifact whose signature does not check out is not written.
Blocking I/O: run it in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from loguru import logger

from cloacinactl.services.server.buildtrust import BuildTrust
from cloacinactl.store import Store
from cloacinactl.store.archives import StoredArchive, loadable_archives, read_runnable

SUFFIX = ".cloacina"


def newest_per_name(archives: Sequence[StoredArchive]) -> list[StoredArchive]:
    """One archive per package name: the most recently stored one (pure)."""
    best: dict[str, StoredArchive] = {}
    for item in archives:
        held = best.get(item.name)
        if held is None or (item.updated_at, item.package_id) > (held.updated_at, held.package_id):
            best[item.name] = item
    return sorted(best.values(), key=lambda a: a.package_id)


@dataclass
class ArchiveMirror:
    """Keeps ``folder`` equal to the tenant's loadable archives. With ``trust``, a
    compiler's artifact is written only when its signature checks out; the others
    are in ``refused`` (package id -> why)."""

    store: Store
    folder: Path
    trust: BuildTrust | None = None
    refused: dict[str, str] = field(default_factory=dict)
    _written: dict[str, str] = field(default_factory=dict)  # package id -> sha256
    _refused_sha: dict[str, str] = field(default_factory=dict)  # package id -> sha256

    def path_of(self, package_id: str) -> Path:
        return self.folder / f"{package_id}{SUFFIX}"

    def sync(self) -> int:
        """Bring the folder up to date; returns how many files were (re)written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        archives = self.store.read(loadable_archives)
        wanted = {a.package_id: a for a in newest_per_name(archives)}
        for path in self.folder.iterdir():
            pid = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else None
            if pid is None or pid not in wanted or path.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self._written.pop(pid or "", None)
        written = 0
        for pid, item in wanted.items():
            path = self.path_of(pid)
            if self._written.get(pid) == item.sha256 and path.exists():
                continue
            if self._refused(pid, item.sha256):
                continue
            runnable = self.store.read(partial(read_runnable, package_id=pid))
            tmp = self.folder / f".{pid}.tmp"
            tmp.write_bytes(runnable.data)
            if runnable.built and self.trust is not None:
                digest = hashlib.sha256(runnable.data).hexdigest()
                why = self.trust.refusal(tmp, runnable.signature, digest)
                if why is not None:
                    why = why.replace(tmp.name, path.name)
                    tmp.unlink()
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    self._written.pop(pid, None)
                    self.refused[pid] = why
                    self._refused_sha[pid] = item.sha256
                    logger.warning("package {} not loaded: {}", pid, why)
                    continue
            self.refused.pop(pid, None)
            os.replace(tmp, path)
            self._written[pid] = item.sha256
            written += 1
        for pid in set(self.refused) - set(wanted):
            del self.refused[pid]
        return written

    def _refused(self, package_id: str, sha256: str) -> bool:
        """Refused before, and still the same bytes: not fetched and checked again."""
        return package_id in self.refused and self._refused_sha.get(package_id) == sha256

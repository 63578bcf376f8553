"""Parent-side package loading: verify, unpack into a hash-keyed cache, import elsewhere.

The calling process (a service supervisor, the CLI) never imports user code.
:class:`PackageLoader` hashes the archive (its identity), optionally verifies
its signature, unpacks it safely into ``<cache>/<sha256>/`` (reused when the
same bytes are loaded again), validates the manifest and has the entry module
imported in another process with a timeout: a worker pool when one is given
(any object with an async ``import_package(root, manifest, timeout)``), else a
throw-away ``python -m cloacinactl.packages.importer`` subprocess. The
extracted tree stays on disk until :meth:`LoadedPackage.unload`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloacinactl.packages.errors import ImportFailedError, PackageError
from cloacinactl.packages.identity import PackageIdentity, sha256_file
from cloacinactl.packages.manifest import MANIFEST_FILE, Manifest, load_manifest
from cloacinactl.packages.unpack import Limits, unpack_archive

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from cloacinactl.packages.signing import SignatureInfo
    from cloacinactl.workflow.model import TriggerDef, WorkflowDef

DEFAULT_IMPORT_TIMEOUT = 30.0


class AsyncImporter(Protocol):
    """Something that imports a package elsewhere (``cloacinactl.workers.PoolImporter``)."""

    async def import_package(
        self, root: Path, manifest: Manifest, timeout: float, *, package_id: str
    ) -> dict[str, Any]: ...


def subprocess_import(root: Path, timeout: float = DEFAULT_IMPORT_TIMEOUT) -> dict[str, Any]:
    """Import the package at ``root`` in a fresh Python process; return its description.

    The child runs in its own process group, killed as a whole on timeout.
    """
    argv = [sys.executable, "-m", "cloacinactl.packages.importer", str(root)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ImportFailedError(
            f"importing the entry module did not finish within {timeout:g}s",
            hint="an import must not block; move slow work into a task",
        ) from None
    except BaseException:
        _kill_group(proc)
        raise
    try:
        result = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise ImportFailedError(
            f"the import process died (exit {proc.returncode}) without an answer"
            + (": " + " | ".join(tail) if tail else "")
        ) from None
    if not isinstance(result, dict) or not result.get("ok"):
        error = result.get("error") if isinstance(result, dict) else None
        hint = result.get("hint") if isinstance(result, dict) else None
        raise ImportFailedError(str(error or "import failed"), hint=hint)
    description = result.get("description")
    if not isinstance(description, dict):
        raise ImportFailedError("the import process returned no description")
    return description


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def stamp_content_hash(description: dict[str, Any], sha256: str) -> dict[str, Any]:
    """Mix the archive hash into every workflow's version (design §9)."""
    from cloacinactl.workflow.model import WorkflowDef

    workflows = [
        WorkflowDef.from_dict(wf).with_content_hash(sha256).to_dict()
        for wf in description.get("workflows", [])
    ]
    return {**description, "workflows": workflows}


@dataclass
class LoadedPackage:
    """A package that is loaded: identity, manifest, description and its extracted tree."""

    identity: PackageIdentity
    manifest: Manifest
    description: dict[str, Any]
    root: Path
    archive: Path
    cache_entry: Path
    signature: SignatureInfo | None = None
    _unloaded: bool = field(default=False, repr=False)

    @property
    def id(self) -> str:
        return self.identity.id

    def workflows(self) -> list[WorkflowDef]:
        from cloacinactl.workflow.model import WorkflowDef

        return [WorkflowDef.from_dict(wf) for wf in self.description.get("workflows", [])]

    def triggers(self) -> list[TriggerDef]:
        from cloacinactl.workflow.model import TriggerDef

        return [TriggerDef.from_dict(t) for t in self.description.get("triggers", [])]

    def source(self) -> dict[str, Any]:
        """Wire form of the worker pool's package source (``kind: package``)."""
        return {
            "kind": "package",
            "package_id": self.identity.id,
            "root": str(self.root),
            "manifest": self.manifest.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.identity.to_dict(),
            "id": self.identity.id,
            "archive": str(self.archive),
            "root": str(self.root),
            "signature": None if self.signature is None else self.signature.to_dict(),
            **{k: v for k, v in self.description.items() if k != "manifest"},
            "manifest": self.manifest.to_dict(),
        }

    def unload(self) -> None:
        """Remove the extracted tree (idempotent)."""
        if not self._unloaded:
            shutil.rmtree(self.cache_entry, ignore_errors=True)
            self._unloaded = True


class PackageLoader:
    """Loads ``.cloacina`` archives into ``cache_dir`` and imports them elsewhere."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
        limits: Limits | None = None,
        trusted_keys: Sequence[Ed25519PublicKey] = (),
        require_signature: bool = False,
    ) -> None:
        self.cache_dir = cache_dir
        self.import_timeout = import_timeout
        self.limits = limits or Limits()
        self.trusted_keys = tuple(trusted_keys)
        self.require_signature = require_signature or bool(trusted_keys)

    def prepare(self, archive: Path) -> tuple[PackageIdentity, Manifest, Path, Path, Any]:
        """Hash, verify, unpack (or reuse) and read the manifest; no user code runs."""
        sha = sha256_file(archive)
        signature = None
        if self.require_signature:
            from cloacinactl.packages.signing import verify_archive

            signature = verify_archive(archive, self.trusted_keys, archive_hash=sha)
        entry = self.cache_dir / sha
        root = self._extracted_root(entry)
        if root is None:
            shutil.rmtree(entry, ignore_errors=True)
            root = unpack_archive(archive, entry, self.limits)
        try:
            manifest = load_manifest(root)
            if manifest.language != "python":
                raise PackageError(
                    f"{archive.name}: '{manifest.language}' packages cannot be loaded by"
                    " the Python runtime"
                )
        except BaseException:
            shutil.rmtree(entry, ignore_errors=True)
            raise
        identity = PackageIdentity(manifest.name, manifest.version, sha)
        return identity, manifest, root, entry, signature

    @staticmethod
    def _extracted_root(entry: Path) -> Path | None:
        if not entry.is_dir():
            return None
        children = [child for child in entry.iterdir() if child.is_dir()]
        if len(children) == 1 and (children[0] / MANIFEST_FILE).is_file():
            return children[0]
        return None

    def load(self, archive: Path) -> LoadedPackage:
        """Load ``archive`` importing it in a throw-away subprocess (blocking)."""
        identity, manifest, root, entry, signature = self.prepare(archive)
        try:
            description = subprocess_import(root, self.import_timeout)
        except BaseException:
            shutil.rmtree(entry, ignore_errors=True)
            raise
        return self._loaded(identity, manifest, root, archive, entry, signature, description)

    async def aload(self, archive: Path, importer: AsyncImporter | None = None) -> LoadedPackage:
        """Load ``archive`` from trio: blocking steps in a thread, import via ``importer``."""
        import trio

        prepared = await trio.to_thread.run_sync(self.prepare, archive)
        identity, manifest, root, entry, signature = prepared
        try:
            if importer is not None:
                description = await importer.import_package(
                    root, manifest, self.import_timeout, package_id=identity.id
                )
            else:
                description = await trio.to_thread.run_sync(
                    subprocess_import, root, self.import_timeout
                )
        except BaseException:
            shutil.rmtree(entry, ignore_errors=True)
            raise
        return self._loaded(identity, manifest, root, archive, entry, signature, description)

    @staticmethod
    def _loaded(
        identity: PackageIdentity,
        manifest: Manifest,
        root: Path,
        archive: Path,
        entry: Path,
        signature: Any,
        description: dict[str, Any],
    ) -> LoadedPackage:
        description = stamp_content_hash(description, identity.sha256)
        return LoadedPackage(identity, manifest, description, root, archive, entry, signature)

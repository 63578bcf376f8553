"""The compiler's build pipeline: uploaded source archive in, signed archive out.

No database here: :func:`build_archive` takes the uploaded bytes, a scratch
folder, the signing key and the limits, and returns a :class:`BuildOutput` or
raises :class:`BuildFailed` with a one-paragraph reason and the build log.

A Python package: unpack safely; validate the manifest and layout; install
``requirements.txt`` (when present) into ``vendor/`` with pip in a subprocess
(the operator's pip configuration applies, a local wheel needs no network);
byte-compile everything under ``workflow/``; import the entry module in the
sandbox (:mod:`cloacinactl.packages.sandbox`: timeout, memory limit, no
processes, no sockets, no access to the compiler's home) and keep what it
declared; pack deterministically (the same source gives the same bytes); sign
with Ed25519. A Rust package runs ``cargo build --release`` when cargo is on
PATH and ships the built library under ``lib/``; without cargo it fails saying
so.

Every tool runs through :mod:`cloacinactl.packages.tools` (own session, killed
as a group on timeout or cancel, no compiler secrets in its environment). Tool
output kept in the log and the reason is scrubbed: the scratch folder, the
home and the interpreter's prefix become placeholders and the values of
secret-looking variables become ``***``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.packages.build import REQUIREMENTS, VENDOR, compile_modules
from cloacinactl.packages.errors import PackageError
from cloacinactl.packages.manifest import MANIFEST_FILE, Manifest, load_manifest
from cloacinactl.packages.pack import pack_bytes
from cloacinactl.packages.sandbox import MEMORY_MARK
from cloacinactl.packages.tools import (
    Scrubber,
    ToolResult,
    run_tool,
    sandbox_env,
    tail,
    tool_env,
)
from cloacinactl.packages.unpack import Limits, unpack_archive

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_LOG_LIMIT = 64 * 1024


@dataclass(frozen=True)
class BuildLimits:
    """How long and how much each step may take."""

    pip_timeout_s: float = 600.0
    import_timeout_s: float = 60.0
    import_memory_mb: int = 1024
    cargo_timeout_s: float = 1800.0
    unpack: Limits = field(default_factory=Limits)


class BuildFailed(Exception):
    """The package cannot be built: ``reason`` for ``build_error``, ``log`` for the build log."""

    def __init__(self, reason: str, log: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log = log


@dataclass(frozen=True)
class BuildOutput:
    """A built package: the archive to run, its side-car signature and what it declares."""

    archive: bytes
    signature: bytes
    sha256: str
    manifest: Manifest
    description: dict[str, Any]
    log: str
    vendored: bool
    duration_s: float


class _Build:
    """One build's state: scratch folder, log, scrubber."""

    def __init__(
        self,
        scratch: Path,
        limits: BuildLimits,
        environ: Mapping[str, str],
        deny: Sequence[Path],
        cancel: threading.Event | None,
        secrets: Iterable[str],
    ) -> None:
        self.scratch = scratch
        self.limits = limits
        self.environ = environ
        self.deny = [str(p) for p in deny]
        self.cancel = cancel
        self.log_parts: list[str] = []
        paths = {str(scratch): "<build>", os.path.realpath(scratch): "<build>"}
        paths[sys.prefix] = "<python>"
        paths[os.path.realpath(sys.prefix)] = "<python>"
        for i, path in enumerate(self.deny):
            paths[path] = f"<protected{i or ''}>"
        home = environ.get("HOME")
        if home:
            paths[home] = "~"
        self.scrub = Scrubber(paths, environ, secrets)

    def note(self, text: str) -> None:
        self.log_parts.append(self.scrub(text.rstrip()) + "\n")

    @property
    def log(self) -> str:
        text = "".join(self.log_parts)
        return text if len(text) <= _LOG_LIMIT else "…\n" + text[-_LOG_LIMIT:]

    def fail(self, reason: str) -> BuildFailed:
        reason = self.scrub(reason)
        self.note(f"FAILED: {reason}")
        return BuildFailed(reason, self.log)

    def tool(self, step: str, argv: Sequence[str], cwd: Path, timeout_s: float) -> ToolResult:
        self.note(f"$ {' '.join(argv)}")
        result = run_tool(
            argv, cwd=cwd, env=tool_env(self.environ), timeout_s=timeout_s, cancel=self.cancel
        )
        if result.output.strip():
            self.note(result.output)
        if result.timed_out:
            raise self.fail(f"{step} took longer than {timeout_s:g}s")
        return result


def build_archive(
    source: bytes,
    *,
    scratch: Path,
    key: Ed25519PrivateKey,
    limits: BuildLimits | None = None,
    environ: Mapping[str, str] | None = None,
    deny: Sequence[Path] = (),
    cancel: threading.Event | None = None,
    secrets: Iterable[str] = (),
) -> BuildOutput:
    """Build the uploaded archive ``source`` inside ``scratch`` (an empty folder we own).

    ``deny``: paths the package's import may not open (the compiler's home,
    the SQLite database). ``secrets``: extra strings scrubbed from the output
    (e.g. the database URL).
    """
    started = time.monotonic()
    limits = limits or BuildLimits()
    build = _Build(
        scratch, limits, os.environ if environ is None else environ, deny, cancel, secrets
    )
    upload = scratch / "upload.cloacina"
    upload.write_bytes(source)
    build.note(f"source: {len(source)} bytes, sha256 {hashlib.sha256(source).hexdigest()}")
    try:
        root = unpack_archive(upload, scratch / "src", limits.unpack)
        manifest = load_manifest(root)
    except PackageError as exc:
        raise build.fail(f"invalid package: {exc.message}") from None
    build.note(f"package {manifest.name} {manifest.version} ({manifest.language})")
    vendored = False
    if manifest.language == "rust":
        _cargo(build, root)
        description: dict[str, Any] = {"manifest": manifest.to_dict(), "workflows": []}
        description["triggers"] = []
    else:
        try:
            build.note(f"byte-compiled {compile_modules(root / 'workflow')} modules")
        except PackageError as exc:
            raise build.fail(exc.message) from None
        vendored = _vendor(build, root)
        description = _sandboxed_import(build, root)
        found = [wf.get("name") for wf in description.get("workflows", [])]
        build.note(f"import declared workflows {found}, {len(description['triggers'])} triggers")
    try:
        archive, entries = pack_bytes(root, manifest)
    except PackageError as exc:
        raise build.fail(f"packing failed: {exc.message}") from None
    digest = hashlib.sha256(archive).hexdigest()
    signature = sign_bytes(archive, key)
    build.note(f"packed {entries} entries, {len(archive)} bytes, sha256 {digest}; signed")
    return BuildOutput(
        archive=archive,
        signature=signature,
        sha256=digest,
        manifest=manifest,
        description=description,
        log=build.log,
        vendored=vendored,
        duration_s=time.monotonic() - started,
    )


def _vendor(build: _Build, root: Path) -> bool:
    requirements = root / REQUIREMENTS
    if not requirements.is_file():
        return False
    target = build.scratch / "vendor.partial"
    argv = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "--no-compile", "--target", str(target), "-r", str(requirements),
    ]  # fmt: skip
    result = build.tool("pip install", argv, root, build.limits.pip_timeout_s)
    if result.code != 0:
        raise build.fail(
            f"installing {REQUIREMENTS} failed (pip exit {result.code}):\n{tail(result.output)}"
        )
    # Nothing that names this build's folders or the build host goes into the archive.
    shutil.rmtree(target / "bin", ignore_errors=True)
    for stray in target.glob("*.dist-info/direct_url.json"):
        stray.unlink()
    for record in target.glob("*.dist-info/RECORD"):
        _drop_from_record(record)
    vendor = root / VENDOR
    shutil.rmtree(vendor, ignore_errors=True)
    target.rename(vendor)
    build.note(f"vendored {sorted(p.name for p in vendor.iterdir())}")
    return True


def _drop_from_record(record: Path) -> None:
    """Forget, in pip's RECORD, the files we removed (``direct_url.json``, which names
    the build folder, and scripts outside the target): the same source, the same bytes."""
    kept = [
        line
        for line in record.read_bytes().splitlines(keepends=True)
        if not line.startswith(b"../")
        and not line.split(b",", 1)[0].endswith(b".dist-info/direct_url.json")
    ]
    record.write_bytes(b"".join(kept))


def _sandboxed_import(build: _Build, root: Path) -> dict[str, Any]:
    limits = build.limits
    spec = {
        "memory_mb": limits.import_memory_mb,
        "cpu_s": int(limits.import_timeout_s) + 5,
        "deny": build.deny,
    }
    argv = [sys.executable, "-m", "cloacinactl.packages.sandbox", json.dumps(spec), str(root)]
    answer = build.scratch / "import.json"
    home = build.scratch / "home"
    home.mkdir(exist_ok=True)
    build.note(f"$ import {root.name} (sandbox: {limits.import_memory_mb} MiB)")
    result = run_tool(
        argv,
        cwd=home,
        env=sandbox_env(build.environ, home),
        timeout_s=limits.import_timeout_s,
        cancel=build.cancel,
        stdout_path=answer,
    )
    if result.output.strip():
        build.note(result.output)
    if result.timed_out:
        raise build.fail(
            f"importing the entry module did not finish within {limits.import_timeout_s:g}s"
            " (an import must not block or loop)"
        )
    memory = (
        f"importing the entry module exceeded the memory limit of {limits.import_memory_mb} MiB"
    )
    try:
        document = json.loads(answer.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        if MEMORY_MARK in result.output:
            raise build.fail(memory) from None
        how = f"signal {-result.code}" if result.code < 0 else f"exit {result.code}"
        raise build.fail(
            f"the import process died ({how}) without an answer:\n{tail(result.output, 5)}"
        ) from None
    if not isinstance(document, dict) or not document.get("ok"):
        error = str(document.get("error") if isinstance(document, dict) else document)
        if "MemoryError" in error:
            raise build.fail(memory)
        raise build.fail(error)
    description = document.get("description")
    if not isinstance(description, dict):
        raise build.fail("the import process returned no description")
    return description


def _cargo(build: _Build, root: Path) -> None:
    cargo = shutil.which("cargo", path=build.environ.get("PATH"))
    if cargo is None:
        raise build.fail(
            "this is a Rust package and no Rust toolchain is installed on the compiler host"
            " (cargo not found on PATH)"
        )
    if not (root / "Cargo.toml").is_file():
        raise build.fail(f"a Rust package needs Cargo.toml beside {MANIFEST_FILE}")
    argv = [cargo, "build", "--release", "--target-dir", str(build.scratch / "target")]
    result = build.tool("cargo build", argv, root, build.limits.cargo_timeout_s)
    if result.code != 0:
        raise build.fail(f"cargo build failed (exit {result.code}):\n{tail(result.output)}")
    release = build.scratch / "target" / "release"
    libs = sorted(
        p for p in release.glob("*") if p.is_file() and p.suffix in (".so", ".dylib", ".dll")
    )
    if not libs:
        raise build.fail('cargo build produced no library (set crate-type = ["cdylib"])')
    out = root / "lib"
    out.mkdir(exist_ok=True)
    for lib in libs:
        shutil.copyfile(lib, out / lib.name)


def sign_bytes(archive: bytes, key: Ed25519PrivateKey) -> bytes:
    """The side-car document (as :mod:`cloacinactl.packages.signing` writes it) for ``archive``."""
    from cloacinactl.packages.signing import signature_document

    return signature_document(hashlib.sha256(archive).hexdigest(), key)

"""``package build``: make a package folder ready to pack.

Python: validate the manifest, byte-compile every module under ``workflow/``,
install ``requirements.txt`` (if any) into ``vendor/`` with ``pip --target``
(into a temp folder swapped in only on success), then import the entry module
in a subprocess and report what it declared. Rust (``Cargo.toml`` +
``package.toml``): ``cargo build [--release]`` as the CLI reference says.
"""

from __future__ import annotations

import py_compile
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloacinactl.packages.errors import PackageError
from cloacinactl.packages.loader import DEFAULT_IMPORT_TIMEOUT, subprocess_import
from cloacinactl.packages.manifest import MANIFEST_FILE, Manifest, load_manifest

REQUIREMENTS = "requirements.txt"
VENDOR = "vendor"


@dataclass
class BuildResult:
    """What a build did."""

    language: str
    manifest: Manifest | None = None
    compiled: int = 0
    vendored: bool = False
    description: dict[str, Any] = field(default_factory=dict)


def compile_modules(folder: Path) -> int:
    """Byte-compile every ``.py`` below ``folder``; a syntax error names file and line."""
    count = 0
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        try:
            py_compile.compile(str(path), doraise=True)
        except py_compile.PyCompileError as exc:
            inner = exc.exc_value
            if isinstance(inner, SyntaxError):
                where = f"{path}:{inner.lineno}"
                raise PackageError(f"syntax error in {where}: {inner.msg}") from exc
            raise PackageError(f"cannot compile {path}: {exc.msg}") from exc
        count += 1
    return count


def vendor_requirements(root: Path, timeout: float = 600.0) -> bool:
    """``pip install --target vendor -r requirements.txt``; False when there is none."""
    requirements = root / REQUIREMENTS
    if not requirements.is_file():
        return False
    tmp = Path(tempfile.mkdtemp(prefix=".vendor.", dir=root))
    argv = [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "--quiet", "--target", str(tmp), "-r", str(requirements),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            raise PackageError(
                f"installing {REQUIREMENTS} failed (pip exit {proc.returncode}): {tail}"
            )
        vendor = root / VENDOR
        old = root / ".vendor.old"
        if vendor.exists():
            shutil.rmtree(old, ignore_errors=True)
            vendor.rename(old)
        tmp.rename(vendor)
        shutil.rmtree(old, ignore_errors=True)
        # pip leaves its own bookkeeping; it is harmless but not needed at run time.
        for path in vendor.glob("bin"):
            shutil.rmtree(path, ignore_errors=True)
    except subprocess.TimeoutExpired:
        raise PackageError(f"installing {REQUIREMENTS} took longer than {timeout:g}s") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def cargo_build(root: Path, release: bool) -> None:
    """``cargo build [--release]`` in ``root``; output streams to the terminal."""
    cargo = shutil.which("cargo")
    if cargo is None:
        raise PackageError("cargo not found on PATH", hint="install Rust from https://rustup.rs")
    argv = [cargo, "build"] + (["--release"] if release else [])
    code = subprocess.run(argv, cwd=root, check=False).returncode
    if code != 0:
        raise PackageError(f"cargo build failed (exit {code})")


def build(
    root: Path, *, release: bool = False, import_timeout: float = DEFAULT_IMPORT_TIMEOUT
) -> BuildResult:
    """Build the package folder ``root`` (see the module docstring)."""
    if not root.is_dir():
        raise PackageError(f"{root} is not a folder")
    if not (root / MANIFEST_FILE).is_file():
        raise PackageError(f"no {MANIFEST_FILE} in {root}")
    if (root / "Cargo.toml").is_file() and not (root / "workflow").is_dir():
        cargo_build(root, release)
        return BuildResult(language="rust")
    manifest = load_manifest(root, strict=True)
    if manifest.language != "python":
        cargo_build(root, release)
        return BuildResult(language=manifest.language, manifest=manifest)
    compiled = compile_modules(root / "workflow")
    vendored = vendor_requirements(root)
    description = subprocess_import(root, import_timeout)
    return BuildResult("python", manifest, compiled, vendored, description)

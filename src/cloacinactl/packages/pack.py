"""Pack a package folder into a deterministic ``.cloacina`` archive.

The same folder content always gives the same bytes: entries sorted by path,
every mtime 0, owner 0/0 with empty names, modes normalised to 0755 (folders
and executable files) or 0644, PAX format, bzip2 level 9 (bzip2 has no
timestamp or name header, unlike gzip). Everything lives under one top folder
``<name>-<version>/``. Build output, caches, VCS folders, virtual environments
and archives are skipped; a symbolic link in the source is an error (we never
ship links).
"""

from __future__ import annotations

import bz2
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cloacinactl.packages.errors import PackageError
from cloacinactl.packages.manifest import Manifest, load_manifest

ARCHIVE_SUFFIX = ".cloacina"
# Skipped wherever they appear.
SKIP_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".idea",
        ".vscode",
    }
)
# Skipped only at the top of the package folder (build output).
SKIP_TOP_DIRS = frozenset({"target", "build", "dist", "venv"})
SKIP_SUFFIXES = (".pyc", ".pyo", ARCHIVE_SUFFIX, ARCHIVE_SUFFIX + ".sig", ".egg-info")
SKIP_FILES = frozenset({".DS_Store"})


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_dir` wrote."""

    path: Path
    manifest: Manifest
    entries: int
    size: int


def _skipped(rel: Path, is_dir: bool, full: Path) -> bool:
    name = rel.name
    if name in SKIP_FILES or name.endswith(SKIP_SUFFIXES):
        return True
    if is_dir:
        if name in SKIP_DIRS or (len(rel.parts) == 1 and name in SKIP_TOP_DIRS):
            return True
        # Any virtual environment, whatever its name.
        if (full / "pyvenv.cfg").is_file():
            return True
    return False


def iter_files(root: Path) -> Iterator[tuple[str, Path, bool]]:
    """(relative posix path, absolute path, is_dir) for everything packed, sorted."""
    found: list[tuple[str, Path, bool]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            children = list(os.scandir(folder))
        except OSError as exc:
            raise PackageError(f"cannot read {folder}: {exc.strerror}") from exc
        for child in children:
            full = Path(child.path)
            rel = full.relative_to(root)
            if child.is_symlink():
                raise PackageError(
                    f"refusing to pack symbolic link {rel.as_posix()}",
                    hint="replace the link with the real file or folder",
                )
            is_dir = child.is_dir(follow_symlinks=False)
            if _skipped(rel, is_dir, full):
                continue
            if is_dir:
                found.append((rel.as_posix(), full, True))
                stack.append(full)
            elif child.is_file(follow_symlinks=False):
                found.append((rel.as_posix(), full, False))
            else:
                raise PackageError(f"refusing to pack special file {rel.as_posix()}")
    found.sort(key=lambda item: item[0])
    yield from found


def _info(name: str, *, is_dir: bool, executable: bool, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if (is_dir or executable) else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.size = 0 if is_dir else size
    return info


def pack_bytes(root: Path, manifest: Manifest) -> tuple[bytes, int]:
    """The archive bytes for ``root`` and its entry count (pure apart from reading)."""
    top = manifest.folder_name
    raw = io.BytesIO()
    count = 1
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(top, is_dir=True, executable=False, size=0))
        for rel, full, is_dir in iter_files(root):
            if is_dir:
                tar.addfile(_info(f"{top}/{rel}", is_dir=True, executable=False, size=0))
            else:
                try:
                    data = full.read_bytes()
                    executable = bool(full.stat().st_mode & stat.S_IXUSR)
                except OSError as exc:
                    raise PackageError(f"cannot read {full}: {exc.strerror}") from exc
                info = _info(f"{top}/{rel}", is_dir=False, executable=executable, size=len(data))
                tar.addfile(info, io.BytesIO(data))
            count += 1
    return bz2.compress(raw.getvalue(), compresslevel=9), count


def default_archive_name(manifest: Manifest) -> str:
    return f"{manifest.name}-{manifest.version}{ARCHIVE_SUFFIX}"


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temp file + rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pack_dir(root: Path, output: Path | None = None) -> PackResult:
    """Validate ``root`` (strict manifest) and write its archive.

    ``output`` defaults to ``./<name>-<version>.cloacina`` (the current folder);
    an existing folder as ``output`` receives that default file name.
    """
    if not root.is_dir():
        raise PackageError(f"{root} is not a folder")
    manifest = load_manifest(root, strict=True)
    if output is None:
        output = Path.cwd() / default_archive_name(manifest)
    elif output.is_dir():
        output = output / default_archive_name(manifest)
    data, count = pack_bytes(root, manifest)
    try:
        write_atomic(output, data)
    except OSError as exc:
        raise PackageError(f"cannot write {output}: {exc.strerror}") from exc
    return PackResult(path=output, manifest=manifest, entries=count, size=len(data))

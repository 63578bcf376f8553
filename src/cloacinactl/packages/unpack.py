"""Hostile-input-safe extraction of ``.cloacina`` archives.

The archive is streamed once: compressed bytes read and decompressed bytes
produced are both counted as they flow, so the size and ratio limits hold
whatever the tar headers claim. Every entry is checked before anything is
written: regular files and folders only (no symbolic or hard links, devices,
FIFOs), relative paths without ``..``, all under one top-level folder, no
duplicates. Extraction goes into a temporary folder beside the destination
and is renamed into place only when complete, so a refused or broken archive
leaves nothing behind.
"""

from __future__ import annotations

import bz2
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from cloacinactl.packages.errors import PackageError, UnsafeArchiveError

BZIP2_MAGIC = b"BZh"
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    """Bounds applied while extracting (defaults suit real packages with vendored deps)."""

    max_entries: int = 20_000
    max_total_bytes: int = 512 * 1024 * 1024
    max_entry_bytes: int = 256 * 1024 * 1024
    max_ratio: float = 200.0
    # The ratio is only enforced past this much output: tiny, very compressible
    # archives (an empty __init__.py, a short manifest) are normal.
    ratio_floor_bytes: int = 4 * 1024 * 1024


class _Counting:
    """A read-only stream wrapper that counts bytes and enforces the limits."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True


class _Decompressed:
    """Decompressed view of the archive that stops a bomb while it inflates."""

    def __init__(self, compressed: _Counting, limits: Limits, label: str) -> None:
        self.compressed = compressed
        self.limits = limits
        self.label = label
        self.stream: bz2.BZ2File = bz2.BZ2File(compressed)  # type: ignore[call-overload]
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self.stream.read(size)
        except (OSError, EOFError, ValueError) as exc:
            raise UnsafeArchiveError(f"{self.label}: corrupt bzip2 data: {exc}") from exc
        self.count += len(data)
        limits = self.limits
        if self.count > limits.max_total_bytes:
            raise UnsafeArchiveError(
                f"{self.label}: decompressed size exceeds {limits.max_total_bytes} bytes"
                " (decompression bomb?)"
            )
        if self.count > limits.ratio_floor_bytes and self.count > limits.max_ratio * max(
            self.compressed.count, 1
        ):
            raise UnsafeArchiveError(
                f"{self.label}: compression ratio exceeds {limits.max_ratio:g}:1"
                " (decompression bomb?)"
            )
        return data

    def readable(self) -> bool:
        return True


def check_bzip2(path: Path) -> None:
    """Refuse anything that does not start with the bzip2 magic."""
    try:
        with path.open("rb") as handle:
            head = handle.read(3)
    except FileNotFoundError:
        raise PackageError(f"no such archive: {path}") from None
    except OSError as exc:
        raise PackageError(f"cannot read {path}: {exc.strerror}") from exc
    if head != BZIP2_MAGIC:
        raise UnsafeArchiveError(
            f"{path.name} is not a bzip2-compressed archive",
            hint="a .cloacina file is a bzip2 tar made by `cloacinactl package pack`",
        )


def safe_member_path(name: str) -> PurePosixPath:
    """The normalised relative path of an entry, or an error naming it."""
    if not name or "\x00" in name or "\\" in name:
        raise UnsafeArchiveError(f"invalid entry name {name!r}")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"entry {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"entry {name!r} escapes the archive with '..'")
    if not parts:
        raise UnsafeArchiveError(f"invalid entry name {name!r}")
    return PurePosixPath(*parts)


def _check_type(member: tarfile.TarInfo) -> None:
    if member.issym():
        raise UnsafeArchiveError(f"entry {member.name!r} is a symbolic link")
    if member.islnk():
        raise UnsafeArchiveError(f"entry {member.name!r} is a hard link")
    if member.ischr() or member.isblk():
        raise UnsafeArchiveError(f"entry {member.name!r} is a device file")
    if member.isfifo():
        raise UnsafeArchiveError(f"entry {member.name!r} is a FIFO")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchiveError(f"entry {member.name!r} has unsupported type {member.type!r}")


def _extract_into(path: Path, tmp: Path, limits: Limits) -> str:
    """Stream ``path`` into ``tmp``; return the single top-level folder name."""
    label = path.name
    top: str | None = None
    seen: set[PurePosixPath] = set()
    files: set[PurePosixPath] = set()
    with path.open("rb") as handle:
        compressed = _Counting(handle)
        stream = _Decompressed(compressed, limits, label)
        try:
            tar = tarfile.open(fileobj=stream, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as exc:
            raise UnsafeArchiveError(f"{label}: not a tar archive: {exc}") from exc
        with tar:
            entries = 0
            while True:
                try:
                    member = tar.next()
                except tarfile.TarError as exc:
                    raise UnsafeArchiveError(f"{label}: corrupt tar data: {exc}") from exc
                if member is None:
                    break
                entries += 1
                if entries > limits.max_entries:
                    raise UnsafeArchiveError(f"{label}: more than {limits.max_entries} entries")
                rel = safe_member_path(member.name)
                _check_type(member)
                if top is None:
                    top = rel.parts[0]
                elif rel.parts[0] != top:
                    raise UnsafeArchiveError(
                        f"entry {member.name!r} is outside the top folder '{top}/'"
                        " (an archive holds exactly one top-level folder)"
                    )
                if rel in seen:
                    raise UnsafeArchiveError(f"entry {member.name!r} appears twice")
                if any(parent in files for parent in rel.parents):
                    raise UnsafeArchiveError(f"entry {member.name!r} is below a file")
                seen.add(rel)
                target = tmp.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                if len(rel.parts) == 1:
                    raise UnsafeArchiveError(
                        f"entry {member.name!r} is a file at the top level"
                        " (an archive holds exactly one top-level folder)"
                    )
                if member.size > limits.max_entry_bytes:
                    raise UnsafeArchiveError(
                        f"entry {member.name!r} is larger than {limits.max_entry_bytes} bytes"
                    )
                files.add(rel)
                target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has data
                try:
                    with target.open("xb") as out:
                        while chunk := source.read(_CHUNK):
                            out.write(chunk)
                except tarfile.TarError as exc:
                    raise UnsafeArchiveError(
                        f"{label}: corrupt data in entry {member.name!r}: {exc}"
                    ) from exc
                target.chmod(0o755 if member.mode & 0o100 else 0o644)
    if top is None:
        raise UnsafeArchiveError(f"{label}: the archive is empty")
    if not (tmp / top).is_dir():
        raise UnsafeArchiveError(f"{label}: top-level entry '{top}' is not a folder")
    return top


def unpack_archive(path: Path, dest: Path, limits: Limits | None = None) -> Path:
    """Extract ``path`` so that ``dest`` holds its single top folder; return that folder.

    ``dest`` must not exist; it appears atomically (rename) only on success.
    """
    limits = limits or Limits()
    check_bzip2(path)
    if dest.exists():
        raise PackageError(f"extraction target {dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        top = _extract_into(path, tmp, limits)
        os.rename(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PackageError(f"cannot extract {path.name}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / top

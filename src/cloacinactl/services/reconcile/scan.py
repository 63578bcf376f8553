"""Scanning watch folders for ``*.cloacina`` archives, cheaply.

A pass ``stat``s each archive and hashes (SHA-256) only files whose
(size, mtime_ns) changed since the previous pass, so an unchanged archive is
never read again. The scan is not recursive: a watch folder's sub-folders are
not searched (upstream's filesystem registry lists one folder level). Hidden
files (a leading dot, as editors and copy tools use for partial files) are
ignored. The functions here do plain blocking I/O; the reconciler runs them in
a thread.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".cloacina"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileSig:
    """What ``stat`` tells us about an archive."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Fingerprint:
    """An archive's signature plus the SHA-256 of its bytes (hex)."""

    size: int
    mtime_ns: int
    sha256: str

    @property
    def sig(self) -> FileSig:
        return FileSig(self.size, self.mtime_ns)


@dataclass
class ScanResult:
    """Archives found (path -> stat signature) and folders that could not be read."""

    files: dict[Path, FileSig] = field(default_factory=dict)
    dir_errors: dict[Path, str] = field(default_factory=dict)


def is_archive_name(name: str) -> bool:
    return name.endswith(SUFFIX) and not name.startswith(".") and len(name) > len(SUFFIX)


def stat_archives(dirs: Iterable[Path]) -> ScanResult:
    """``stat`` every archive directly inside each folder. A missing folder is not an
    error (it may be created later); an unreadable one is reported."""
    result = ScanResult()
    for folder in dirs:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not is_archive_name(entry.name):
                        continue
                    try:
                        if not entry.is_file():
                            continue
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # removed while we looked
                    result.files[Path(entry.path)] = FileSig(st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            continue
        except OSError as exc:
            result.dir_errors[folder] = f"cannot read watch directory: {exc.strerror}"
    return result


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def settling(files: Mapping[Path, FileSig], now_ns: int, settle_ns: int) -> set[Path]:
    """Files modified less than ``settle_ns`` ago: probably still being written."""
    return {p for p, sig in files.items() if now_ns - sig.mtime_ns < settle_ns}


@dataclass(frozen=True)
class Sighting:
    """When a file was first seen with its current signature (monotonic and wall clock)."""

    sig: FileSig
    seen_s: float
    seen_ns: int


def note_sightings(
    files: Mapping[Path, FileSig], previous: Mapping[Path, Sighting], mono_s: float, wall_ns: int
) -> dict[Path, Sighting]:
    """The sightings of ``files``: kept while a file's signature is unchanged, else new."""
    out = {}
    for path, sig in files.items():
        prev = previous.get(path)
        out[path] = prev if prev is not None and prev.sig == sig else Sighting(sig, mono_s, wall_ns)
    return out


def unproven(
    sightings: Mapping[Path, Sighting], mono_s: float, settle_s: float
) -> dict[Path, float]:
    """Files to wait for although their mtime is old, with the seconds left (pure).

    A copy that keeps the source's mtime (``cp -p``, ``rsync -t``, tar, many
    download tools) looks settled by mtime while it is still being written. When
    a file's content is first seen with an mtime already well in the past, its
    mtime proves nothing: it counts as settled only once it has been seen
    unchanged for ``settle_s``.
    """
    settle_ns = int(settle_s * 1e9)
    out = {}
    for path, seen in sightings.items():
        if seen.sig.mtime_ns < seen.seen_ns - 2 * settle_ns:
            left = seen.seen_s + settle_s - mono_s
            if left > 0:
                out[path] = left
    return out


def fingerprint(
    files: Mapping[Path, FileSig],
    previous: Mapping[Path, Fingerprint],
    hash_file: Callable[[Path], str] = sha256_of,
) -> tuple[dict[Path, Fingerprint], int]:
    """Fingerprints for ``files``, reusing ``previous`` where (size, mtime_ns) match.

    Returns the fingerprints and how many files were actually hashed. A file that
    disappears or cannot be read while hashing is left out (seen as absent).
    """
    out: dict[Path, Fingerprint] = {}
    hashed = 0
    for path, sig in files.items():
        prev = previous.get(path)
        if prev is not None and prev.sig == sig:
            out[path] = prev
            continue
        try:
            digest = hash_file(path)
        except OSError:
            continue
        hashed += 1
        out[path] = Fingerprint(sig.size, sig.mtime_ns, digest)
    return out, hashed

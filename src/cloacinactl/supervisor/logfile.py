"""The one writer of a service's JSON log file: whole lines, rotation by rename.

Every line is written with a single ``write`` of the complete line, and the
file is only rotated between two lines, so a reader never sees a line split,
lost or duplicated. Rotation is daily (the first line written on a new day
renames the old file to ``<name>.<YYYY-MM-DD>``) and optionally by size
(``<name>.<YYYY-MM-DD>.<n>``); rotated files older than ``retention_days`` days
are deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path

Today = Callable[[], dt.date]
_SUFFIX = re.compile(r"^\.(\d{4}-\d{2}-\d{2})(?:\.(\d+))?$")


def rotated_name(path: Path, day: dt.date, existing: set[str]) -> Path:
    """The first free rotated name for ``day``: ``x.log.2026-01-02``, then ``.1``, ``.2``…"""
    base = f"{path.name}.{day.isoformat()}"
    if base not in existing:
        return path.with_name(base)
    n = 1
    while f"{base}.{n}" in existing:
        n += 1
    return path.with_name(f"{base}.{n}")


def expired(path: Path, names: list[str], today: dt.date, retention_days: int) -> list[Path]:
    """Rotated siblings of ``path`` older than ``retention_days`` days (pure)."""
    cutoff = today - dt.timedelta(days=retention_days)
    out = []
    for name in names:
        if not name.startswith(path.name):
            continue
        match = _SUFFIX.match(name[len(path.name) :])
        if match and dt.date.fromisoformat(match.group(1)) < cutoff:
            out.append(path.with_name(name))
    return sorted(out)


class LogFile:
    """Append whole lines to ``path``, rotating daily and (optionally) by size."""

    def __init__(
        self,
        path: Path,
        *,
        retention_days: int = 7,
        max_bytes: int | None = None,
        today: Today = dt.date.today,
    ) -> None:
        self.path = path
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self._today = today
        self._fd = -1
        self._size = 0
        self._day = today()
        self.rotations = 0
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._open(initial=True)

    def _open(self, *, initial: bool = False) -> None:
        if initial and self.path.exists():
            # A file left from an earlier day is rotated before we add today's lines.
            mtime = dt.date.fromtimestamp(self.path.stat().st_mtime)
            if mtime < self._day:
                self._rename(mtime)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o600)
        self._size = os.fstat(self._fd).st_size

    def _rename(self, day: dt.date) -> None:
        existing = {p.name for p in self.path.parent.iterdir()}
        os.rename(self.path, rotated_name(self.path, day, existing))
        self.rotations += 1

    def rotate(self) -> None:
        """Close, rename to the dated name, reopen, apply retention."""
        os.close(self._fd)
        self._fd = -1
        self._rename(self._day)
        self._day = self._today()
        self._open()
        self.prune()

    def prune(self) -> None:
        names = [p.name for p in self.path.parent.iterdir()]
        for old in expired(self.path, names, self._today(), self.retention_days):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()

    def write_line(self, line: str | bytes) -> None:
        """Append one line (a trailing newline is added when missing)."""
        data = line.encode() if isinstance(line, str) else line
        self.write_lines([data])

    def write_lines(self, lines: list[bytes]) -> None:
        """Append whole lines, as few writes as rotation allows (never splitting one)."""
        if self._today() != self._day:
            self.rotate()
        batch: list[bytes] = []
        size = 0
        for line in lines:
            data = line if line.endswith(b"\n") else line + b"\n"
            if self.max_bytes is not None and self._size + size + len(data) > self.max_bytes:
                if batch:
                    self._write(b"".join(batch))
                    batch, size = [], 0
                if self._size > 0:
                    self.rotate()
            batch.append(data)
            size += len(data)
        if batch:
            self._write(b"".join(batch))

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

"""Reading a service's JSON log back: every rotated file in time order, filters, follow.

The writer (:mod:`cloacinactl.supervisor.logfile`) renames the live file to
``<name>.<YYYY-MM-DD>`` (then ``.1``, ``.2``…) and starts a new one; a rotated
name is never reused. So the files of a log, oldest first, are the rotated
names sorted by (day, n), then the live file. :class:`Follower` reads through
rotations by file identity (device, inode): when the live name points at
another file, the one it holds is finished (the writer closed it before the
rename), so it reads that to its end and moves to the file that came next —
possibly a rotated one, when several rotations happened between two looks —
and nothing is lost or read twice. Only whole lines are returned.

Plain blocking I/O, no trio; the filters and the rendering are pure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloacinactl.config.logfilter import LEVEL_NAMES, LEVELS

_SUFFIX = re.compile(r"^\.(\d{4}-\d{2}-\d{2})(?:\.(\d+))?$")
_CHUNK = 1 << 16
# Fields shown in the message column, not again as key=value.
_SHOWN = ("ts", "level", "logger", "message", "service", "pid")


def _rotation_key(path: Path, name: str) -> tuple[dt.date, int] | None:
    if not name.startswith(path.name):
        return None
    match = _SUFFIX.match(name[len(path.name) :])
    if match is None:
        return None
    try:
        day = dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return day, int(match.group(2) or 0)


def ordered_names(path: Path, names: Sequence[str]) -> list[tuple[str, dt.date | None]]:
    """The files of the log ``path`` among ``names``, oldest first, with each one's day.

    Rotated names sort by (day, n); the live name comes last (day ``None``). Pure.
    """
    rotated = []
    for name in names:
        key = _rotation_key(path, name)
        if key is not None:
            rotated.append((key, name))
    out: list[tuple[str, dt.date | None]] = [(name, key[0]) for key, name in sorted(rotated)]
    if path.name in names:
        out.append((path.name, None))
    return out


def log_files(path: Path) -> list[tuple[Path, dt.date | None]]:
    """The files of the log ``path`` on disk, oldest first (see :func:`ordered_names`)."""
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return [(path.with_name(name), day) for name, day in ordered_names(path, names)]


def parse_record(line: bytes | str) -> dict[str, Any]:
    """A log line as a record; a line that is not a JSON object becomes its message."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    text = text.rstrip("\r\n")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"message": text}


def record_time(record: dict[str, Any]) -> dt.datetime | None:
    raw = record.get("ts")
    if not isinstance(raw, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.astimezone()


def record_level(record: dict[str, Any]) -> int:
    name = record.get("level")
    if isinstance(name, str):
        return LEVELS.get(name.strip().lower(), 20)
    return 20


def render(record: dict[str, Any]) -> str:
    """One record as a line for people: time, level, logger, message, then key=value."""
    stamp = str(record.get("ts") or "")[:23].replace("T", " ")
    level = LEVEL_NAMES.get(record_level(record), "INFO")
    name = record.get("logger") or "-"
    extra = " ".join(f"{k}={v}" for k, v in record.items() if k not in _SHOWN)
    text = f"{stamp} {level: <7} {name}: {record.get('message', '')}"
    return f"{text} {extra}" if extra else text


@dataclass(frozen=True)
class LogQuery:
    """Which records to show (pure): all of them unless a filter is set."""

    since: dt.datetime | None = None
    min_level: int | None = None
    execution: str | None = None
    grep: str | None = None

    @property
    def filters(self) -> bool:
        return any(v is not None for v in (self.since, self.min_level, self.execution, self.grep))

    def skip_file(self, day: dt.date | None) -> bool:
        """A rotated file of a day before ``since`` holds nothing newer (local dates)."""
        if self.since is None or day is None:
            return False
        return day < self.since.astimezone().date()

    def matches(self, record: dict[str, Any]) -> bool:
        if self.min_level is not None and record_level(record) < self.min_level:
            return False
        if self.since is not None:
            stamp = record_time(record)
            if stamp is None or stamp < self.since:
                return False
        if self.execution is not None and not self._about_execution(record):
            return False
        return self.grep is None or self.grep in render(record)

    def _about_execution(self, record: dict[str, Any]) -> bool:
        wanted = self.execution
        if str(record.get("execution_id", "")) == wanted:
            return True
        return f"execution_id={wanted}" in str(record.get("message", ""))


def read_lines(path: Path, query: LogQuery) -> Iterator[bytes]:
    """Every whole line of the log ``path`` across its rotated files, oldest first.

    Read like ``--follow`` reads (by file identity), so a rotation while it reads
    neither skips nor repeats a file. A trailing partial line is left out.
    """
    follower = Follower(path, from_start=True, skip=query.skip_file)
    try:
        yield from follower.available()
    finally:
        follower.close()


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


class Follower:
    """Reads new whole lines of a log as they are written, through rotations.

    By default it begins at the current end of the live file. ``from_start``
    begins at the oldest file instead (the first for which ``skip(day)`` is
    false), so the history and what follows come from one reader: nothing
    written between reading the history and following is missed or repeated.
    """

    def __init__(
        self,
        path: Path,
        *,
        from_start: bool = False,
        skip: Callable[[dt.date | None], bool] | None = None,
    ) -> None:
        self.path = path
        self._fd = -1
        self._id: tuple[int, int] | None = None
        self._partial = b""
        self.switches = 0
        if from_start:
            for file, day in log_files(path):
                if (skip is None or not skip(day)) and self._open(file):
                    return
        if self._open(path) and not from_start:
            os.lseek(self._fd, 0, os.SEEK_END)

    def _open(self, file: Path) -> bool:
        try:
            fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        self._fd = fd
        self._id = _identity(os.fstat(fd))
        return True

    def _drain(self) -> Iterator[bytes]:
        """Whole lines available from the held file now, a chunk at a time (a trailing
        partial line is kept for later)."""
        while data := os.read(self._fd, _CHUNK):
            data = self._partial + data
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            if cut:
                yield from data[:cut].splitlines(keepends=True)

    def poll(self) -> list[bytes]:
        """New whole lines since the last call (an empty list when there are none)."""
        return list(self.available())

    def available(self) -> Iterator[bytes]:
        """The whole lines there are now, streamed: through every rotated file to the
        end of the live one."""
        if self._fd < 0:
            if self._open(self.path):
                yield from self._drain()
            return
        yield from self._drain()
        while True:
            try:
                live = _identity(os.stat(self.path))
            except FileNotFoundError:
                live = None
            if live == self._id:
                return
            # The live name moved on: what we hold is complete. Read its tail, then
            # the file written after it (a rotated one, or the live file).
            yield from self._drain()
            if self._partial:  # the writer only writes whole lines; keep it anyway
                yield self._partial + b"\n"
                self._partial = b""
            if not self._advance():
                return
            yield from self._drain()

    def _snapshot(self) -> list[tuple[Path, tuple[int, int]]]:
        """The log's files, oldest first, with their identities, consistent with a rename.

        The live name is looked at *before* the folder is listed: if a rotation
        happens in between, the file seen live shows up under its rotated name
        too and is listed once, in its place. (Looking at it after the listing
        could see the next file under the live name and skip the rotated one.)
        """
        try:
            live: tuple[int, int] | None = _identity(os.stat(self.path))
        except FileNotFoundError:
            live = None
        entries = []
        for file, day in log_files(self.path):
            if day is None:
                continue
            try:
                entries.append((file, _identity(os.stat(file))))
            except FileNotFoundError:
                continue
        if live is not None and live not in {ident for _, ident in entries}:
            entries.append((self.path, live))
        return entries

    def _advance(self) -> bool:
        """Switch to the file that follows the held one; False if there is none yet."""
        while True:
            entries = self._snapshot()
            ids = [ident for _, ident in entries]
            if self._id in ids:
                index = ids.index(self._id) + 1
            else:  # the held file is gone (pruned): go on with the live one
                index = (
                    len(entries) - 1 if entries and entries[-1][0] == self.path else len(entries)
                )
            if index >= len(entries) or index < 0:
                return False
            file, ident = entries[index]
            try:
                fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # renamed between the listing and the open: look again
            if _identity(os.fstat(fd)) != ident:
                os.close(fd)
                continue
            os.close(self._fd)
            self._fd, self._id = fd, ident
            self.switches += 1
            return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

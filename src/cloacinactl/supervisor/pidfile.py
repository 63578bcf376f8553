"""The PID file protocol (design §5).

The file holds the PID on its first line and a JSON object of metadata on the
second (``pid``, ``create_time``, ``cmdline``, ``service``, ``started_at`` and
what the service records, e.g. its bound ``address``). The owner holds an
exclusive ``flock`` on it for its whole life, so "is the lock held" tells a
live owner from a stale file, and ``create_time`` + ``cmdline`` tell the owner
from an unrelated process that reused the PID. Content is replaced atomically
(write a locked temporary file, rename it over the path).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cloacinactl.errors import UserError

# psutil's create_time has clock-tick resolution; two reads of the same process
# agree exactly, a different process differs by far more than this.
_CREATE_TIME_TOLERANCE_S = 0.05
# A reader briefly takes a shared lock to test for an owner; a starter retries
# its exclusive attempt over this window before refusing.
_LOCK_RETRY_S = 0.2


@dataclass(frozen=True)
class PidRecord:
    """What a PID file says."""

    pid: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def create_time(self) -> float | None:
        value = self.meta.get("create_time")
        return float(value) if isinstance(value, int | float) else None

    @property
    def cmdline(self) -> list[str] | None:
        value = self.meta.get("cmdline")
        return [str(v) for v in value] if isinstance(value, list) else None


def parse_pid_text(text: str) -> PidRecord | None:
    """Parse PID file content; None when the first line is not a PID."""
    lines = text.splitlines()
    if not lines or not lines[0].strip().isdigit():
        return None
    meta: dict[str, Any] = {}
    if len(lines) > 1:
        with contextlib.suppress(ValueError):
            loaded = json.loads(lines[1])
            if isinstance(loaded, dict):
                meta = loaded
    return PidRecord(int(lines[0].strip()), meta)


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in ``path``, or None when missing or unreadable."""
    try:
        return parse_pid_text(path.read_text(encoding="utf-8", errors="replace"))
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return None


def lock_held(path: Path) -> bool:
    """Whether some process holds the exclusive lock on ``path`` right now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def matches(record: PidRecord, proc: psutil.Process) -> bool:
    """Whether ``proc`` is the process that wrote ``record`` (start time and command)."""
    try:
        if record.create_time is None or record.cmdline is None:
            return False
        if abs(proc.create_time() - record.create_time) > _CREATE_TIME_TOLERANCE_S:
            return False
        return normalize_cmdline(proc.cmdline()) == normalize_cmdline(record.cmdline)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def normalize_cmdline(cmdline: list[str]) -> list[str]:
    """Drop the empty padding setproctitle leaves in ``/proc/<pid>/cmdline``."""
    return [part for part in cmdline if part]


@dataclass(frozen=True)
class Owner:
    """The verified live owner of a PID file."""

    record: PidRecord
    process: psutil.Process


def find_owner(path: Path) -> tuple[PidRecord | None, Owner | None]:
    """The file's record and, when the lock is held and the process matches, its owner."""
    record = read_pid_file(path)
    if record is None or not lock_held(path):
        return record, None
    try:
        proc = psutil.Process(record.pid)
    except psutil.Error:
        return record, None
    return record, (Owner(record, proc) if matches(record, proc) else None)


def remove_if_stale(path: Path) -> bool:
    """Delete ``path`` if nobody holds its lock; True when it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if _same_file(fd, path):
            path.unlink()
            return True
        return False
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


class PidFile:
    """An acquired PID file; the lock lives as long as this object is open."""

    def __init__(self, path: Path, service: str) -> None:
        self.path = path
        self.service = service
        self.meta: dict[str, Any] = {}
        self._fd = -1
        self.stale: PidRecord | None = None

    def acquire(self) -> PidFile:
        """Take the file; UserError (exit 1) when a live owner holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        deadline = time.monotonic() + _LOCK_RETRY_S
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                raise self._running_error() from None
            if not _same_file(fd, self.path):  # replaced or removed meanwhile: retry
                os.close(fd)
                continue
            break
        previous = parse_pid_text(os.read(fd, 65536).decode("utf-8", "replace"))
        self.stale = previous
        proc = psutil.Process()
        self.meta = {
            "pid": proc.pid,
            "service": self.service,
            "create_time": proc.create_time(),
            "cmdline": normalize_cmdline(proc.cmdline()),
            "started_at": time.time(),
        }
        old_fd = fd
        self._fd = self._write_new()
        os.close(old_fd)  # releases the lock on the replaced inode
        return self

    def _running_error(self) -> UserError:
        record = read_pid_file(self.path)
        pid = f" (pid {record.pid})" if record else ""
        return UserError(
            f"{self.service} is already running{pid}; PID file {self.path} is locked",
            hint=f"stop it first: cloacinactl {self.service} stop",
        )

    def _write_new(self) -> int:
        """Write a locked temp file with our content and rename it over the path."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, self._content())
        os.fsync(fd)
        os.rename(tmp, self.path)
        return fd

    def _content(self) -> bytes:
        return f"{os.getpid()}\n{json.dumps(self.meta, separators=(',', ':'))}\n".encode()

    def update(self, **meta: Any) -> None:
        """Record more metadata (e.g. the bound address), atomically, keeping the lock."""
        self.meta.update(meta)
        old = self._fd
        self._fd = self._write_new()
        os.close(old)

    def release(self) -> None:
        """Remove the file (if it is still ours) and drop the lock."""
        if self._fd < 0:
            return
        if _same_file(self._fd, self.path):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = -1

    @property
    def fd(self) -> int:
        return self._fd

"""Output capture inside a worker: file descriptors 1 and 2, and logging.

The worker points fds 1 and 2 at files of its own for its whole life, so
everything a task writes — ``print``, C extensions writing to fd 1, a
subprocess it starts, ``os.write(2, …)`` — lands there. Logging records go as
JSON lines to a third file. Each operation truncates the files first and reads
them back last. Because the files are named after the worker's PID in a folder
the pool owns, the pool can still read what a task wrote when the worker
crashed or was killed mid-task (see ``read_capture``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STREAMS = ("stdout", "stderr", "logs")
TRUNCATION_MARK = "[... {n} bytes truncated ...]\n"


def capture_paths(directory: Path, pid: int) -> dict[str, Path]:
    """Files a worker with ``pid`` writes its captured output to."""
    return {name: directory / f"{pid}.{name}" for name in STREAMS}


@dataclass
class Captured:
    """What one operation wrote."""

    stdout: str = ""
    stderr: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {"stdout": self.stdout, "stderr": self.stderr, "logs": self.logs}


def read_tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes of a file as text, with a truncation mark."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - limit)
            f.seek(start)
            data = f.read(limit)
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return TRUNCATION_MARK.format(n=start) + text if start else text


def parse_log_lines(text: str) -> list[dict[str, Any]]:
    """Parse JSON-lines log records; a torn or foreign line becomes a raw record."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            record = {"level": "INFO", "logger": "", "message": line, "time": None}
        records.append(record)
    return records


def read_capture(directory: Path, pid: int, limit: int) -> Captured:
    """Read back what worker ``pid`` captured (used by the pool after a crash)."""
    paths = capture_paths(directory, pid)
    return Captured(
        stdout=read_tail(paths["stdout"], limit),
        stderr=read_tail(paths["stderr"], limit),
        logs=parse_log_lines(read_tail(paths["logs"], limit)),
    )


def remove_capture(directory: Path, pid: int) -> None:
    """Delete the capture files of worker ``pid``."""
    for path in capture_paths(directory, pid).values():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class JsonLinesHandler(logging.Handler):
    """Write each record as one JSON line to a file descriptor (unbuffered)."""

    def __init__(self, fd: int) -> None:
        super().__init__(logging.NOTSET)
        self._fd = fd
        self.tags: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry: dict[str, Any] = {
                "time": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
                **self.tags,
            }
            if record.exc_info:
                entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
            os.write(self._fd, (json.dumps(entry, default=str) + "\n").encode())
        except Exception:
            self.handleError(record)


def _c_fflush() -> Any:
    """libc's ``fflush`` (to flush C-level stdio buffers of C extensions), if reachable."""
    try:
        return ctypes.CDLL(None).fflush
    except (OSError, AttributeError):
        return None


class Capture:
    """The worker's side: owns fds 1/2 and the log file for the process's life."""

    def __init__(self, directory: Path, pid: int, limit: int) -> None:
        self.limit = limit
        self.paths = capture_paths(directory, pid)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        self._fds = {name: os.open(path, flags, 0o600) for name, path in self.paths.items()}
        os.dup2(self._fds["stdout"], 1)
        os.dup2(self._fds["stderr"], 2)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        self._handler = JsonLinesHandler(self._fds["logs"])
        root.addHandler(self._handler)
        root.setLevel(logging.INFO)
        self._fflush = _c_fflush()
        self._empty = False  # whether the files are known empty and flushed (see begin)

    def begin(self, tags: dict[str, Any] | None = None) -> None:
        """Start a fresh capture for one operation; ``tags`` go on every log record."""
        self._handler.tags = dict(tags or {})
        root = logging.getLogger()
        if self._handler not in root.handlers:  # user code may have reset logging
            root.addHandler(self._handler)
        if not self._empty:
            # the last operation wrote something: start from empty files. (When it
            # wrote nothing, ``end`` already flushed and saw them empty: skip the
            # syscalls; anything a leftover thread writes now goes to this operation.)
            self._flush()
            for name in STREAMS:
                if os.fstat(self._fds[name]).st_size:
                    os.ftruncate(self._fds[name], 0)
        for fd in (1, 2):
            # fds 1/2 are separate descriptions only if a task re-opened them; re-point them.
            os.dup2(self._fds["stdout" if fd == 1 else "stderr"], fd)

    def end(self) -> Captured:
        """Finish the operation's capture and return what was written."""
        self._flush()
        texts = {
            name: read_tail(self.paths[name], self.limit)
            if os.fstat(self._fds[name]).st_size
            else ""
            for name in STREAMS
        }
        self._empty = not any(texts.values())
        return Captured(texts["stdout"], texts["stderr"], parse_log_lines(texts["logs"]))

    def _flush(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        if self._fflush is not None:
            with contextlib.suppress(Exception):
                self._fflush(None)

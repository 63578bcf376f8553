"""Dual logging for a service: human lines on stderr, JSON lines in the log file.

``ServiceLogging`` installs two loguru sinks that share one live
``LogFilter`` (RUST_LOG / ``-v`` / ``[daemon] log_level``); ``set_filter``
changes the level at once (SIGHUP). Children never write the file: their
records arrive as JSON lines (``ingest``) and the supervisor writes them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from loguru import logger

from cloacinactl.config.logfilter import LEVEL_NAMES, LEVELS, LogFilter
from cloacinactl.supervisor.logfile import LogFile

HUMAN_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {name}: {message}"


def record_json(record: Mapping[str, Any], service: str) -> str:
    """One loguru record as a compact JSON object (no trailing newline)."""
    out: dict[str, Any] = {
        "ts": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
        "service": service,
        "pid": record["process"].id,
    }
    extra = record.get("extra") or {}
    for key, value in extra.items():
        out.setdefault(key, value)
    exc = record.get("exception")
    if exc is not None and exc.type is not None:
        out["error"] = f"{exc.type.__name__}: {exc.value}"
    return json.dumps(out, default=str, separators=(",", ":"))


# the keys of every record (record_json); an extra field of the same name is dropped
_LINE_KEYS = frozenset({"ts", "level", "logger", "message", "service", "pid"})


def level_of(name: object) -> int:
    """A record's level number from its name; unknown names count as INFO."""
    if isinstance(name, str):
        return LEVELS.get(name.lower(), 20)
    return 20


class ServiceLogging:
    """Owns the loguru sinks of one service process."""

    def __init__(
        self,
        service: str,
        log_path: Path,
        log_filter: LogFilter,
        *,
        stderr: TextIO | None = sys.stderr,
        retention_days: int = 7,
        max_bytes: int | None = None,
    ) -> None:
        self.service = service
        self.filter = log_filter
        self.file = LogFile(log_path, retention_days=retention_days, max_bytes=max_bytes)
        self._stderr = stderr
        self._ids: list[int] = []
        self._fixed: dict[tuple[str, str], str] = {}  # line(): encoded constant keys

    def install(self) -> None:
        """Replace loguru's handlers with ours."""
        logger.remove()
        logger.configure(extra={})
        if self._stderr is not None:
            self._ids.append(
                logger.add(
                    self._stderr,
                    level=0,
                    format=HUMAN_FORMAT,
                    filter=self._passes,
                    colorize=False,
                    # No variable values in tracebacks: they could hold secrets.
                    diagnose=False,
                    backtrace=False,
                )
            )
        self._ids.append(
            logger.add(
                self._write_record, level=0, filter=self._passes, diagnose=False, backtrace=False
            )
        )

    def _passes(self, record: Any) -> bool:
        return self.filter.enabled(record["name"] or "", record["level"].no, record["message"])

    def _write_record(self, message: Any) -> None:
        self.file.write_line(record_json(message.record, self.service))

    def line(self, name: str, level: int, message: str, extra: Mapping[str, Any]) -> None:
        """One record written straight to both sinks, as a loguru record of logger
        ``name`` would be (same filter, same JSON keys, same human line).

        For the line every request writes: loguru builds a whole record (frame,
        thread, process, two formatters) per call, a quarter of a keyed read's time
        in the server; this costs the JSON encoding and two writes."""
        if not self.filter.enabled(name, level, message):
            return
        ts = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
        label = LEVEL_NAMES.get(level, "INFO")
        fixed = self._fixed.get((name, label))
        if fixed is None:  # the keys that do not change between lines, encoded once
            head = {"level": label, "logger": name, "service": self.service, "pid": os.getpid()}
            fixed = self._fixed[(name, label)] = json.dumps(head, separators=(",", ":"))[1:-1]
        tail = "".join(
            f",{json.dumps(key)}:{json.dumps(value, default=str, separators=(',', ':'))}"
            for key, value in extra.items()
            if key not in _LINE_KEYS
        )
        self.file.write_line(f'{{"ts":"{ts}",{fixed},"message":{json.dumps(message)}{tail}}}')
        if self._stderr is not None:
            self._stderr.write(f"{ts[:10]} {ts[11:23]} {label: <7} {name}: {message}\n")
            self._stderr.flush()

    def set_filter(self, log_filter: LogFilter) -> None:
        """Apply a new filter to both sinks immediately."""
        self.filter = log_filter
        logger.info("log filter changed level={}", LEVEL_NAMES.get(log_filter.default, "?"))

    def ingest(self, line: bytes, labels: Mapping[str, Any]) -> None:
        """Write one record that a child sent (a JSON object or a plain text line)."""
        self.ingest_lines([line], labels)

    def ingest_lines(self, lines: Sequence[bytes], labels: Mapping[str, Any]) -> None:
        """Write the records a child sent, in one go (``ChildSpec.log_sink``).

        On the ``record`` stream each line is a JSON object (level, logger,
        message, …); on ``stdout``/``stderr`` it is plain text logged at INFO.
        """
        structured = labels.get("stream") == "record"
        now = dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
        if not structured:
            self._ingest_text(lines, labels, now)
            return
        out: list[bytes] = []
        human: list[str] = []
        extra = " ".join(f"{k}={v}" for k, v in labels.items())
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            record: dict[str, Any] | None = None
            if structured:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if isinstance(parsed, dict):
                    record = parsed
            if record is None:
                record = {"level": "INFO", "message": text, "logger": "child"}
            level = level_of(record.get("level"))
            name = str(record.get("logger") or "child")
            message = str(record.get("message", ""))
            if not self.filter.enabled(name, level, message):
                continue
            record.setdefault("ts", now)
            record.setdefault("service", self.service)
            for key, value in labels.items():
                record.setdefault(key, value)
            out.append(json.dumps(record, default=str, separators=(",", ":")).encode())
            if self._stderr is not None:
                stamp = str(record["ts"])[:23].replace("T", " ")
                label = LEVEL_NAMES.get(level, "INFO")
                human.append(f"{stamp} {label: <7} {name}: {message} {extra}\n")
        if out:
            self.file.write_lines(out)
        if human and self._stderr is not None:
            self._stderr.write("".join(human))
            self._stderr.flush()

    def _ingest_text(self, lines: Sequence[bytes], labels: Mapping[str, Any], now: str) -> None:
        """Plain output lines: one record shape per batch, only the message varies."""
        if not self.filter.enabled("child", LEVELS["info"]):
            return
        head = {"ts": now, "level": "INFO", "logger": "child", "service": self.service}
        for key, value in labels.items():
            head.setdefault(key, value)
        prefix = json.dumps(head, default=str, separators=(",", ":"))[:-1] + ',"message":'
        dumps = json.dumps
        texts = [line.decode("utf-8", "replace").rstrip("\r") for line in lines]
        if self.filter.pattern is not None:
            texts = [t for t in texts if self.filter.enabled("child", LEVELS["info"], t)]
        self.file.write_lines([f"{prefix}{dumps(t)}}}\n".encode() for t in texts])
        if self._stderr is not None and texts:
            extra = " ".join(f"{k}={v}" for k, v in labels.items())
            lead = f"{now[:23].replace('T', ' ')} INFO    child: "
            self._stderr.write("".join(f"{lead}{t} {extra}\n" for t in texts))
            self._stderr.flush()

    def close(self) -> None:
        for sink_id in self._ids:
            with contextlib.suppress(ValueError):
                logger.remove(sink_id)
        self._ids.clear()
        self.file.close()


def child_log_fd(env: Mapping[str, str] = os.environ) -> int | None:
    """The record pipe a supervisor gave this child (``CLOACINA_LOG_FD``), if any."""
    raw = env.get(CHILD_LOG_ENV)
    return int(raw) if raw and raw.isdigit() else None


CHILD_LOG_ENV = "CLOACINA_LOG_FD"


def install_child_logging(fd: int, log_filter: LogFilter, labels: Mapping[str, Any]) -> None:
    """In a child: send loguru records as JSON lines down ``fd`` to the supervisor."""
    stream = os.fdopen(fd, "w", buffering=1, encoding="utf-8", closefd=False)

    def sink(message: Any) -> None:
        record = json.loads(record_json(message.record, str(labels.get("service", ""))))
        record.update(labels)
        stream.write(json.dumps(record, default=str, separators=(",", ":")) + "\n")

    logger.remove()
    logger.add(
        sink,
        level=0,
        filter=lambda r: log_filter.enabled(r["name"] or "", r["level"].no, r["message"]),
    )

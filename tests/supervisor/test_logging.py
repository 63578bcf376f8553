"""The single-writer log file and the dual sinks."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from loguru import logger

from cloacinactl.config.logfilter import DEBUG, INFO, LogFilter, parse_filter
from cloacinactl.supervisor import LogFile, ServiceLogging


class Clock:
    def __init__(self) -> None:
        self.day = dt.date(2026, 1, 1)

    def __call__(self) -> dt.date:
        return self.day


def test_daily_and_size_rotation_keep_every_line_whole(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "cloacina.log"
    log = LogFile(path, max_bytes=200, retention_days=3, today=clock)
    for n in range(100):
        if n == 50:
            clock.day = dt.date(2026, 1, 2)
        log.write_line(json.dumps({"n": n}))
    log.close()
    files = sorted(tmp_path.iterdir())
    assert any(f.name == "cloacina.log.2026-01-01" for f in files)
    assert any(f.name.startswith("cloacina.log.2026-01-02") for f in files)
    numbers = []
    for f in files:
        for line in f.read_text().splitlines():
            numbers.append(json.loads(line)["n"])
    assert sorted(numbers) == list(range(100))
    for f in files:
        assert f.stat().st_size <= 200


def test_retention_deletes_old_rotated_files(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "cloacina.log"
    log = LogFile(path, retention_days=2, today=clock)
    for day in range(1, 8):
        clock.day = dt.date(2026, 1, day)
        log.write_line(f"day {day}")
    log.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name != "cloacina.log")
    # Today is 01-07: rotated files dated before 01-05 (older than 2 days) are gone.
    assert rotated == ["cloacina.log.2026-01-05", "cloacina.log.2026-01-06"]


def test_sinks_filter_live_and_ingest_child_records(tmp_path: Path) -> None:
    err = io.StringIO()
    logs = ServiceLogging("daemon", tmp_path / "cloacina.log", LogFilter(), stderr=err)
    logs.install()
    try:
        logger.debug("hidden")
        logger.info("shown {}", 1)
        logs.set_filter(LogFilter(default=DEBUG))
        logger.debug("now visible")
        logs.ingest(
            b'{"level":"INFO","message":"from child","logger":"w"}',
            {"stream": "record", "child": "worker 1"},
        )
        logs.ingest(b"plain stdout line", {"stream": "stdout", "child": "worker 1"})
        logs.set_filter(parse_filter("warn"))
        logs.ingest(b'{"level":"INFO","message":"filtered"}', {"stream": "record"})
    finally:
        logs.close()
    records = [json.loads(x) for x in (tmp_path / "cloacina.log").read_text().splitlines()]
    messages = [r["message"] for r in records]
    assert "hidden" not in messages and "shown 1" in messages and "now visible" in messages
    assert "filtered" not in messages
    child = next(r for r in records if r["message"] == "from child")
    assert child["child"] == "worker 1" and child["service"] == "daemon"
    plain = next(r for r in records if r["message"] == "plain stdout line")
    assert plain["stream"] == "stdout"
    assert "shown 1" in err.getvalue() and "hidden" not in err.getvalue()


def test_direct_line_writes_what_loguru_would(tmp_path: Path) -> None:
    """``ServiceLogging.line`` (the server's per-request line) skips loguru, not its
    rules: the same JSON keys and human line as a loguru record of that logger, the
    same live filter."""
    err = io.StringIO()
    logs = ServiceLogging("server", tmp_path / "cloacina.log", LogFilter(), stderr=err)
    logs.install()
    name = __name__
    try:
        logger.bind(request_id="via-loguru").info("request one")
        logs.line(name, INFO, "request two {braces} kept", {"request_id": "direct"})
        logs.line(name, DEBUG, "too quiet", {"request_id": "hidden"})
        logs.set_filter(parse_filter(f"warn,{name}=info"))
        logs.line(name, INFO, "per-target level", {"request_id": "target"})
        logs.line("cloacinactl.other", INFO, "other target", {"request_id": "other"})
    finally:
        logs.close()
    records = [json.loads(x) for x in (tmp_path / "cloacina.log").read_text().splitlines()]
    by_id = {r.get("request_id"): r for r in records}
    assert set(by_id) >= {"via-loguru", "direct", "target"}
    assert "hidden" not in by_id and "other" not in by_id
    assert set(by_id["direct"]) == set(by_id["via-loguru"])
    direct = by_id["direct"]
    assert direct["message"] == "request two {braces} kept" and direct["logger"] == name
    assert direct["level"] == "INFO" and direct["service"] == "server"
    assert direct["pid"] == by_id["via-loguru"]["pid"]
    assert dt.datetime.fromisoformat(direct["ts"]).tzinfo is not None
    human = err.getvalue().splitlines()
    loguru_line = next(x for x in human if x.endswith("request one"))
    direct_line = next(x for x in human if x.endswith("request two {braces} kept"))
    assert loguru_line[23:] == direct_line[23:].replace("request two {braces} kept", "request one")
    assert dt.datetime.strptime(direct_line[:23], "%Y-%m-%d %H:%M:%S.%f")

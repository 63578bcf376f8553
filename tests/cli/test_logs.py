"""``daemon|server|compiler logs``: rotated files in order, filters, --follow through rotations."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cloacinactl.cli.logs import parse_since
from cloacinactl.config.logfilter import WARNING
from cloacinactl.errors import UserError
from cloacinactl.supervisor.logfile import LogFile
from cloacinactl.supervisor.logread import LogQuery, ordered_names

BIN = Path(sys.executable).parent


def record(seq: int, *, level: str = "INFO", ts: str | None = None, **extra: object) -> bytes:
    body: dict[str, object] = {
        "ts": ts or dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
        "level": level,
        "logger": "cloacinactl.test",
        "message": f"line {seq}",
        "service": "daemon",
        "pid": 1,
        "seq": seq,
    }
    body.update(extra)
    return json.dumps(body, separators=(",", ":")).encode()


def test_rotated_names_sort_oldest_first() -> None:
    path = Path("/x/cloacina.log")
    names = [
        "cloacina.log",
        "cloacina.log.2026-01-02.1",
        "cloacina.log.2026-01-02",
        "cloacina.log.2026-01-01.10",
        "cloacina.log.2026-01-01.2",
        "cloacina-server.log",
        "cloacina.log.2026-13-40",  # not a date
        "cloacina.log.bak",
    ]
    assert [n for n, _ in ordered_names(path, names)] == [
        "cloacina.log.2026-01-01.2",
        "cloacina.log.2026-01-01.10",
        "cloacina.log.2026-01-02",
        "cloacina.log.2026-01-02.1",
        "cloacina.log",
    ]


def test_query_filters() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    old = json.loads(record(1, ts="2026-05-01T10:00:00.000+00:00"))
    new = json.loads(record(2, level="ERROR", ts="2026-05-01T11:59:00.000+00:00"))
    task = json.loads(record(3, execution_id="e-1"))
    assert LogQuery(since=parse_since("30m", now)).matches(new)
    assert not LogQuery(since=parse_since("30m", now)).matches(old)
    assert LogQuery(since=parse_since("2026-05-01T09:00:00+00:00", now)).matches(old)
    assert not LogQuery(min_level=WARNING).matches(old) and LogQuery(min_level=WARNING).matches(new)
    assert LogQuery(execution="e-1").matches(task) and not LogQuery(execution="e-1").matches(new)
    mentioned = {"message": "cannot create execution execution_id=e-1", "level": "ERROR"}
    assert LogQuery(execution="e-1").matches(mentioned)
    assert LogQuery(grep="line 2").matches(new) and not LogQuery(grep="line 2").matches(old)
    with pytest.raises(UserError):
        parse_since("ten minutes", now)


def test_reads_every_rotated_file_in_order_with_filters(cli, home: Path) -> None:
    day = [dt.date.today() - dt.timedelta(days=1)]
    log = LogFile(home / "logs" / "cloacina.log", max_bytes=2_000, today=lambda: day[0])
    yesterday = (dt.datetime.now().astimezone() - dt.timedelta(days=1)).isoformat()
    for seq in range(60):
        level = "ERROR" if seq % 10 == 0 else "INFO"
        extra = {"execution_id": "exec-7"} if seq in (5, 44) else {}
        log.write_line(record(seq, level=level, ts=yesterday if seq <= 30 else None, **extra))
        if seq == 30:
            day[0] = dt.date.today()  # a daily rotation on top of the size ones
    log.close()
    assert log.rotations >= 3

    out = cli("daemon", "logs", "-o", "json")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["seq"] for line in out.stdout.splitlines()] == list(range(60))
    human = cli("daemon", "logs").stdout.splitlines()
    assert len(human) == 60 and "INFO    cloacinactl.test: line 1 seq=1" in human[1]
    errors = cli("daemon", "logs", "--level", "error", "-o", "json").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in errors] == [0, 10, 20, 30, 40, 50]
    by_exec = cli("daemon", "logs", "--execution", "exec-7").stdout.splitlines()
    assert [line.split("line ")[1].split()[0] for line in by_exec] == ["5", "44"]
    assert cli("daemon", "logs", "--grep", "line 42").stdout.count("\n") == 1
    assert cli("daemon", "logs", "-n", "2", "-o", "json").stdout.count("\n") == 2
    recent = cli("daemon", "logs", "--since", "1h", "-o", "json").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in recent] == list(range(31, 60))
    assert cli("daemon", "logs", "--since", "2d").stdout.count("\n") == 60
    # no such log: a clear error, exit 1
    missing = cli("compiler", "logs")
    assert missing.returncode == 1 and "no compiler log" in missing.stderr
    assert cli("daemon", "logs", "-o", "yaml").returncode == 1


def test_follow_through_rotations_loses_and_repeats_nothing(home: Path) -> None:
    """100,000 lines, ~100 size rotations and a daily one while `logs --follow` runs."""
    total, before = 100_000, 30_000
    day = [dt.date.today() - dt.timedelta(days=1)]
    log = LogFile(home / "logs" / "cloacina.log", max_bytes=100_000, today=lambda: day[0])
    for seq in range(before):
        log.write_line(record(seq))
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME")}
    argv = [str(BIN / "cloacinactl"), "--home", str(home), "daemon", "logs", "--follow"]
    proc = subprocess.Popen(
        [*argv, "-o", "json", "--lines", str(total)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(json.loads(line)["seq"])
            if len(seen) >= total:
                done.set()
        done.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for seq in range(before, total):
            if seq == 60_000:
                day[0] = dt.date.today()
            log.write_line(record(seq))
            if seq % 5_000 == 0:
                time.sleep(0.02)  # let the follower catch up now and then
        log.close()
        assert done.wait(60), f"only {len(seen)} lines followed"
        time.sleep(0.3)  # nothing more may arrive
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    thread.join(timeout=10)
    assert log.rotations > 50
    assert seen == list(range(total))

"""The rows of ``status``: local PID-file facts, concurrent probes, and what they import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from probe_helpers import RawPeer

from cloacinactl.config.home import Home
from cloacinactl.probes.local import pid_record, process_info
from cloacinactl.probes.status import Where, composite_status
from cloacinactl.supervisor import PidFile

# Nothing running and no config.toml: none of these is needed to say so.
NOT_NEEDED_IDLE = (
    "psutil",
    "http.client",
    "ssl",
    "concurrent.futures",
    "tomllib",
    "encodings.idna",
)


def test_one_broken_probe_never_hides_the_others(tmp_path: Path, daemon_socket: Path) -> None:
    home = Home.resolve(tmp_path)
    wheres = [
        Where("daemon", str(daemon_socket)),
        Where("bogus", "127.0.0.1:1"),  # no probe paths for it: the probe itself fails
        Where("compiler", "ftp://127.0.0.1:1"),
    ]
    rows = composite_status(home, wheres, timeout_s=5)
    assert [r["service"] for r in rows] == ["daemon", "bogus", "compiler"]
    assert rows[0]["state"] == "running" and rows[0]["pid"] == 4242
    assert rows[0]["uptime"] == "1m1s"
    assert rows[1]["state"] == "error" and "bogus" in rows[1]["detail"]
    assert rows[2]["state"] == "stopped" and "not an http(s) URL" in rows[2]["detail"]


def test_a_silent_server_only_fails_its_own_row(
    tmp_path: Path, daemon_socket: Path, raw_peer: RawPeer
) -> None:
    raw_peer.close_after = False  # accepts and never answers
    home = Home.resolve(tmp_path)
    wheres = [Where("daemon", str(daemon_socket)), Where("server", f"127.0.0.1:{raw_peer.port}")]
    rows = composite_status(home, wheres, timeout_s=0.3)
    assert rows[0]["state"] == "running"
    assert rows[1]["state"] == "stopped"
    assert rows[1]["detail"].endswith("/v1/health/status unreachable: timed out")


def test_process_info_of_a_live_owner_and_of_no_file(tmp_path: Path) -> None:
    path = tmp_path / "daemon.pid"
    assert process_info(path) is None and pid_record(path) is None
    pid_file = PidFile(path, "daemon").acquire()
    try:
        pid_file.update(address="127.0.0.1:9")
        info = process_info(path)
        assert info is not None and info.pid == os.getpid() and info.rss_bytes > 0
        record = pid_record(path)
        assert record is not None and record.meta["address"] == "127.0.0.1:9"
    finally:
        pid_file.release()


def test_stale_pid_file_has_no_process_but_keeps_its_record(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    path.write_text(f"{os.getpid()}\n" + json.dumps({"address": "127.0.0.1:7"}) + "\n")
    assert process_info(path) is None  # nobody holds the lock
    record = pid_record(path)
    assert record is not None and record.meta["address"] == "127.0.0.1:7"


def _cli_in_fresh_interpreter(*argv: str) -> tuple[int, str, set[str]]:
    """``cloacinactl ARGV`` in a fresh interpreter: exit code, stdout, modules loaded."""
    code = (
        "import sys, json\n"
        "from cloacinactl.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    return done.returncode, done.stdout, set(json.loads(done.stderr.strip().splitlines()[-1]))


def _status_json(home: Path) -> tuple[list[dict[str, object]], set[str]]:
    """``cloacinactl status -o json``: its rows and the modules it loaded."""
    code, out, modules = _cli_in_fresh_interpreter("--home", str(home), "-o", "json", "status")
    assert code == 0, out
    return json.loads(out), modules


def test_status_json_with_nothing_running_loads_nothing_it_does_not_need(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rows, modules = _status_json(home)
    assert [r["service"] for r in rows] == ["daemon", "server", "compiler"]
    assert rows[0]["state"] == "stopped" and rows[0]["status"] is None
    assert rows[0]["detail"] == f"daemon is not running (no socket at {home}/daemon.sock)"
    # The default addresses (whatever may listen there on this machine).
    assert rows[1]["address"] == "http://127.0.0.1:8080"
    assert rows[2]["address"] == "http://127.0.0.1:9000"
    assert all(r["pid"] is None for r in rows)
    loaded = sorted(m for m in NOT_NEEDED_IDLE if m in modules)
    assert not loaded, f"status with nothing running imported {loaded}"


def test_status_json_reads_config_and_recorded_addresses(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'default_profile = "p"\n[profiles.p]\nserver = "http://127.0.0.1:1/api"\napi_key = "k"\n'
        '[compiler]\nlocal_addr = "127.0.0.1:2"\n[daemon]\nlog_level = "debug"\n'
    )
    rows, modules = _status_json(home)
    assert rows[1]["address"] == "http://127.0.0.1:1/api"
    assert rows[2]["address"] == "http://127.0.0.1:2"
    assert "tomllib" in modules  # read because config.toml exists
    (home / "config.toml").unlink()
    (home / "server.pid").write_text("1\n" + json.dumps({"address": "127.0.0.1:3"}) + "\n")
    rows, _ = _status_json(home)
    assert rows[1]["address"] == "http://127.0.0.1:3"  # recorded by a (stale) server
    assert rows[1]["state"] == "stopped" and rows[1]["pid"] is None


def test_daemon_status_of_a_stopped_daemon_reads_no_config_schema(tmp_path: Path) -> None:
    code, _, modules = _cli_in_fresh_interpreter("--home", str(tmp_path), "daemon", "status")
    assert code == 2
    loaded = sorted(m for m in (*NOT_NEEDED_IDLE, "cloacinactl.config.schema") if m in modules)
    assert not loaded, f"daemon status imported {loaded}"

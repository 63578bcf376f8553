"""The daemon's whole life, driven through the installed cloacinactl like a user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from svc_helpers import BIN, Services, clean_env, daemon_answers, gone, pid_meta, wait_for


def test_start_health_status_stop(cli, home: Path, services: Services) -> None:
    proc = services.start_daemon()
    assert cli("daemon", "health").returncode == 0
    status = cli("daemon", "status", "--no-color")
    assert status.returncode == 0, status.stderr
    assert "healthy" in status.stdout or "running" in status.stdout
    assert str(proc.pid) in status.stdout
    as_json = json.loads(cli("-o", "json", "daemon", "status").stdout)
    assert as_json["pid"] == proc.pid and as_json["raw"]["database"]["connected"] is True
    assert (home / "packages").is_dir() and (home / "logs").is_dir()
    assert (home / "cloacina.db").exists()

    stopped = cli("daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert proc.wait(timeout=10) == 0
    assert not (home / "daemon.pid").exists() and not (home / "daemon.sock").exists()
    assert cli("daemon", "health").returncode == 2
    again = cli("daemon", "stop")
    assert again.returncode == 2 and "not running" in again.stderr
    assert cli("daemon", "status").returncode == 2


def test_health_socket_json(home: Path, services: Services) -> None:
    proc = services.start_daemon("--watch-dir", str(home / "extra"), "--poll-interval", "750")
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(home / "daemon.sock"))
        body = json.loads(s.makefile().read())
    assert body["status"] == "healthy" and body["pid"] == proc.pid
    assert body["uptime_seconds"] >= 0
    assert body["database"] == {
        "connected": True,
        "backend": "sqlite",
        "path": str(home / "cloacina.db"),
    }
    # The initial reconcile has run (READY comes after it) and found nothing.
    reconciler = body["reconciler"]
    assert reconciler["packages_loaded"] == 0 and reconciler["packages"] == []
    assert reconciler["runs"] >= 1 and reconciler["last_run_at"] is not None
    assert body["active_workflows"] == 0
    assert body["watch_dirs"] == [str(home / "packages"), str(home / "extra")]
    assert body["poll_interval_ms"] == 750
    assert pid_meta(home, "daemon")["pid"] == proc.pid


def test_second_start_refused(cli, home: Path, services: Services) -> None:
    first = services.start_daemon()
    second = cli("daemon", "start", timeout=30)
    assert second.returncode == 1
    assert "already running" in second.stderr and str(first.pid) in second.stderr
    assert first.poll() is None and daemon_answers(home)


def test_pid_file_of_unrelated_process_is_never_signalled(cli, home: Path) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        home.mkdir(parents=True)
        (home / "daemon.pid").write_text(f"{victim.pid}\n")
        result = cli("daemon", "stop")
        assert result.returncode == 2
        assert "stale" in result.stderr
        result = cli("daemon", "stop", "--force")
        assert result.returncode == 2
        time.sleep(0.1)
        assert victim.poll() is None, "an unrelated process was signalled"
    finally:
        victim.kill()
        victim.wait()


def test_locked_pid_file_with_mismatched_identity_is_not_signalled(cli, home: Path) -> None:
    # A live process holds the lock, but the file claims facts that are not its own.
    code = (
        "import fcntl, json, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "meta = {'create_time': 1.0, 'cmdline': ['cloacina-daemon: supervisor']}\n"
        "os.write(fd, f'{os.getpid()}\\n{json.dumps(meta)}\\n'.encode())\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    home.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(home / "daemon.pid")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = cli("daemon", "stop", "--force")
        assert result.returncode == 2 and "not signalling" in result.stderr
        time.sleep(0.1)
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()


def test_kill_9_then_start_works(cli, home: Path, services: Services) -> None:
    first = services.start_daemon()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    # Stale PID file and socket are left behind by SIGKILL.
    assert (home / "daemon.pid").exists() and (home / "daemon.sock").exists()
    assert cli("daemon", "health").returncode == 2
    second = services.start_daemon()
    assert cli("daemon", "health").returncode == 0
    assert pid_meta(home, "daemon")["pid"] == second.pid
    log = (home / "logs" / "cloacina.log").read_text()
    assert "stale PID file" in log
    assert cli("daemon", "stop").returncode == 0


def test_sigint_drains_and_exits_0(home: Path, services: Services) -> None:
    proc = services.start_daemon()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert not (home / "daemon.pid").exists()
    lines = (home / "logs" / "cloacina.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses
    assert any("SIGINT: draining" in r["message"] for r in records)
    assert all({"ts", "level", "logger", "message", "pid"} <= r.keys() for r in records)


def test_sighup_reload_changes_log_level(cli, home: Path, services: Services) -> None:
    home.mkdir(parents=True)
    config = home / "config.toml"
    config.write_text('[daemon]\nlog_level = "info"\n')
    proc = services.start_daemon()
    log = home / "logs" / "cloacina.log"
    assert cli("daemon", "health").returncode == 0
    assert '"level":"DEBUG"' not in log.read_text()
    config.write_text('[daemon]\nlog_level = "debug"\n')
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "log filter changed" in log.read_text(), what="reload")
    assert cli("daemon", "health").returncode == 0
    wait_for(lambda: "health probe answered" in log.read_text(), what="debug record")
    assert proc.poll() is None, "SIGHUP must not stop the daemon"
    for line in log.read_text().splitlines():
        json.loads(line)


def test_verbose_flag_and_rust_log(home: Path, services: Services) -> None:
    proc = services.start_daemon(env=clean_env(RUST_LOG="warn"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert b"INFO" not in err  # RUST_LOG=warn hides info on stderr
    log = (home / "logs" / "cloacina.log").read_text()
    assert '"level":"INFO"' not in log


def test_detach_runs_in_background(cli, home: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cloacina-daemon"), "--home", str(home), "--detach"],
        env=clean_env(),
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0
    try:
        wait_for(lambda: daemon_answers(home), what="detached daemon")
        pid = int((home / "daemon.pid").read_text().split()[0])
        assert os.getppid() != pid
        assert cli("daemon", "health").returncode == 0
        assert cli("daemon", "stop").returncode == 0
        wait_for(lambda: gone(pid), what="exit")
    finally:
        if (home / "daemon.pid").exists():
            cli("daemon", "stop", "--force")


def test_sd_notify_ready_watchdog_stopping(home: Path, services: Services, tmp_path: Path) -> None:
    import socket

    addr = str(tmp_path / "notify.sock")
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(addr)
    sink.settimeout(10)
    try:
        proc = services.start_daemon(env=clean_env(NOTIFY_SOCKET=addr, WATCHDOG_USEC="200000"))
        got: list[str] = []
        wait_for(
            lambda: (
                bool(got.extend(sink.recv(4096).decode().split("\n")) or True)
                and "READY=1" in got
                and "WATCHDOG=1" in got
            ),
            what="READY and WATCHDOG",
        )
        assert any(x.startswith("STATUS=") for x in got)
        proc.send_signal(signal.SIGTERM)
        wait_for(
            lambda: (
                bool(got.extend(sink.recv(4096).decode().split("\n")) or True)
                and "STOPPING=1" in got
            ),
            what="STOPPING",
        )
        assert proc.wait(timeout=10) == 0
    finally:
        sink.close()


def test_unopenable_database_is_a_clean_exit_1(cli, home: Path) -> None:
    (home / "cloacina.db").mkdir(parents=True)
    result = cli("daemon", "start", timeout=30)
    assert result.returncode == 1
    assert "cannot open database" in result.stderr and "Traceback" not in result.stderr
    assert not (home / "daemon.pid").exists()


def test_malformed_config_is_exit_1(cli, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[daemon]\nno_such_key = 1\n")
    result = cli("daemon", "start", timeout=30)
    assert result.returncode == 1 and "no_such_key" in result.stderr


def test_a_damaged_database_is_a_clear_error_and_is_left_alone(cli, home: Path) -> None:
    home.mkdir(parents=True)
    db = home / "cloacina.db"
    garbage = bytes(range(256)) * 32
    db.write_bytes(garbage)
    started = cli("daemon", "start", timeout=60)
    assert started.returncode == 1
    assert "file is not a database" in started.stderr
    assert "move it aside" in started.stderr
    assert "Traceback" not in started.stderr
    assert db.read_bytes() == garbage, "the file must not be touched"
    assert not (home / "daemon.pid").exists()
    cleanup = cli("admin", "cleanup-events", "--database-url", f"sqlite:///{db}", timeout=60)
    assert cleanup.returncode == 1
    assert "file is not a database" in cleanup.stderr
    assert db.read_bytes() == garbage


def test_a_home_too_long_for_the_socket_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    home = tmp_path / ("h" * 60) / ("o" * 60)
    done = subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(home), "daemon", "start"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Unix sockets allow at most" in done.stderr
    assert "shorter --home" in done.stderr
    assert not home.exists(), "nothing may be created"

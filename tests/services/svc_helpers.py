"""Helpers for driving the real service programs through the installed CLI (tests/services)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RUST_LOG", "NO_COLOR", "DATABASE_URL", "CLOACINA_HOME")
    }
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def daemon_answers(home: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(home / "daemon.sock"))
            return bool(s.recv(65536))
    except OSError:
        return False


def pid_meta(home: Path, service: str) -> dict[str, object]:
    lines = (home / f"{service}.pid").read_text().splitlines()
    return dict(json.loads(lines[1]))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Services:
    """Starts processes and guarantees they are gone at the end of the test."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: list[subprocess.Popen[bytes]] = []

    def popen(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env=env or clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return self.popen([str(BIN / "cloacinactl"), "--home", str(self.home), *args], env)

    def start_daemon(
        self, *extra: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = self.cli("daemon", "start", *extra, env=env)
        wait_for(lambda: daemon_answers(self.home) or proc.poll() is not None, what="daemon")
        assert proc.poll() is None, proc.communicate()[1].decode()
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(proc.pid).children(recursive=True):
                        with contextlib.suppress(OSError):
                            os.killpg(child.pid, signal.SIGKILL)
                        child.kill()
                proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_ctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed cloacinactl to completion (no --home added: the caller decides)."""
    return subprocess.run(
        [str(BIN / "cloacinactl"), *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def systemd_verify(unit: Path, *, user: bool, scratch: Path) -> None:
    """``systemd-analyze [--user] verify unit`` passes with nothing said about cloacina.

    Skips the calling test when systemd-analyze is not installed.
    """
    import shutil

    import pytest

    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    argv = [tool, "verify", str(unit)]
    env = dict(os.environ)
    if user:
        runtime = scratch / "xdg"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime)
        argv.insert(1, "--user")
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "cloacina" not in result.stderr, result.stderr

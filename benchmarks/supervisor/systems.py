"""The three supervisors under test, behind one small interface."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEERS = ROOT / ".bench-envs" / "supervisor-peers"
PEER_PACKAGES = ("supervisor==4.3.0", "circus==0.19.0")


def ensure_peers() -> Path:
    """Install supervisord and circus into their own venv (once)."""
    python = PEERS / "bin" / "python"
    if not (PEERS / "bin" / "supervisord").exists() or not (PEERS / "bin" / "circusd").exists():
        PEERS.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return PEERS


class System:
    name = "?"
    log_glob = "*.log*"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, argv: list[str], children: int, opts: dict[str, object]) -> list[str]:
        raise NotImplementedError

    def start(self, argv: list[str], children: int = 1, **opts: object) -> None:
        self.proc = subprocess.Popen(
            self.command(argv, children, opts),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        # A crash-looping child may not be alive at any given instant: don't wait for it.
        while not opts.get("crash_loop") and len(self.children()) < children:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} did not start its children")
            time.sleep(0.01)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def supervisor_process(self) -> psutil.Process:
        return psutil.Process(self.pid)

    def children(self) -> list[psutil.Process]:
        try:
            kids = self.supervisor_process().children()
        except psutil.Error:
            return []
        out = []
        for c in kids:
            # Only our workers (circusd has helper processes of its own).
            with contextlib.suppress(psutil.Error):
                if c.status() != psutil.STATUS_ZOMBIE and "children.py" in " ".join(c.cmdline()):
                    out.append(c)
        return out

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc.wait()
        # whatever the supervisor left in its session (circusd's own circus.stats helper
        # outlives it) must not outlive the benchmark
        kill_session(self.proc.pid)

    def kill(self) -> None:
        """Last resort cleanup: everything in the supervisor's session."""
        if self.proc is None:
            return
        kill_session(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()

    def log_files(self) -> list[Path]:
        return sorted(self.dir.rglob(self.log_glob))


def kill_session(sid: int) -> None:
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) == sid:
                proc.kill()


class Ours(System):
    name = "cloacina"
    log_glob = "cloacina.log*"

    def command(self, argv: list[str], children: int, opts: dict[str, object]) -> list[str]:
        cmd = [
            sys.executable,
            str(HERE / "ours_service.py"),
            str(self.dir / "home"),
            "--argv",
            json.dumps(argv),
            "--children",
            str(children),
            "--grace",
            str(opts.get("grace", 1.0)),
            "--fast-crash-s",
            str(opts.get("fast_crash_s", 0.05)),
        ]
        if opts.get("log_max_bytes"):
            cmd += ["--log-max-bytes", str(opts["log_max_bytes"]), "--capture", "--no-restart"]
        if opts.get("fast_days"):
            cmd += ["--fast-days", str(opts["fast_days"])]
        if opts.get("crash_loop"):
            cmd += ["--fast-crash-s", "1.0"]
        return cmd


class Supervisord(System):
    name = "supervisord"
    log_glob = "w.log*"

    def command(self, argv: list[str], children: int, opts: dict[str, object]) -> list[str]:
        d = self.dir
        quoted = " ".join(_ini_quote(a) for a in argv)
        max_bytes = opts.get("log_max_bytes") or 50 * 1024 * 1024
        conf = f"""[supervisord]
nodaemon=true
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}

[unix_http_server]
file={d}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{d}/supervisor.sock

[program:w]
command={quoted}
numprocs={children}
process_name=%(program_name)s_%(process_num)d
autorestart={"false" if opts.get("log_max_bytes") else "true"}
startsecs=0
startretries=1000
stopwaitsecs={max(1, round(float(opts.get("grace", 1.0))))}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={d}/w.log
stdout_logfile_maxbytes={max_bytes}
stdout_logfile_backups=1000
"""
        (d / "supervisord.conf").write_text(conf)
        return [str(PEERS / "bin" / "supervisord"), "-c", str(d / "supervisord.conf")]


class Circus(System):
    name = "circus"
    log_glob = "w.log*"

    def command(self, argv: list[str], children: int, opts: dict[str, object]) -> list[str]:
        d = self.dir
        quoted = " ".join(_ini_quote(a) for a in argv)
        max_bytes = opts.get("log_max_bytes") or 50 * 1024 * 1024
        conf = f"""[circus]
endpoint = ipc://{d}/ctl.sock
pubsub_endpoint = ipc://{d}/pubsub.sock
stats_endpoint = ipc://{d}/stats.sock
statsd = False
check_delay = 5

[watcher:w]
cmd = {quoted}
numprocesses = {children}
graceful_timeout = {opts.get("grace", 1.0)}
stop_children = True
respawn = {"False" if opts.get("log_max_bytes") else "True"}
max_retry = -1
copy_env = True
stdout_stream.class = FileStream
stdout_stream.filename = {d}/w.log
stdout_stream.max_bytes = {max_bytes}
stdout_stream.backup_count = 1000
"""
        (d / "circus.ini").write_text(conf)
        return [str(PEERS / "bin" / "circusd"), str(d / "circus.ini")]


def _ini_quote(arg: str) -> str:
    if all(c.isalnum() or c in "/._-=:" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


SYSTEMS: dict[str, type[System]] = {"cloacina": Ours, "supervisord": Supervisord, "circus": Circus}

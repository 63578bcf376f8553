"""CLI benchmark: whole-process wall time of common cloacinactl commands.

Run:  .venv/bin/python benchmarks/cli/run.py [--runs N] [--bytecode env|cached]
      [--no-daemon] [--no-supervisor]

Rows: start-up (`--help`, `config list`, a client command against a closed
port, compared with `supervisorctl --help`; Supervisor is installed into
.bench-envs/supervisor on first run) and the service commands the supervisor
issue wants fast: `status` with nothing running, `status` against a running
idle daemon, and `daemon stop` of an idle daemon. Every run of every row is
one round; rounds interleave the rows so load from other processes hits all
alike. Each round first starts a fresh daemon (untimed, waited for until its
socket answers, then left to settle) which the round's last row stops. Two
warm-up rounds come first. Prints median, p90, p95 (nearest rank) and min.

``--bytecode env`` (default) keeps the environment as it is (here
PYTHONDONTWRITEBYTECODE=1 is set, so an editable install recompiles every
cloacinactl module on each run); ``--bytecode cached`` lets Python cache
bytecode under a private PYTHONPYCACHEPREFIX, as an installed package would.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUPERVISOR_ENV = ROOT / ".bench-envs" / "supervisor"
TARGET_MS = 150.0
STATUS_P95_MS = 200.0  # the supervisor issue's bound
STATUS_AIM_MS = 120.0
STOP_MEDIAN_MS = 200.0
SETTLE_S = 0.3  # an idle daemon: let its start-up work finish before it is probed

Case = tuple[str, list[str]]
STOPPED = re.compile(r"\(pid \d+, ([\d.]+)s\)")


def supervisorctl() -> Path | None:
    exe = SUPERVISOR_ENV / "bin" / "supervisorctl"
    if exe.exists():
        return exe
    print(f"installing supervisor into {SUPERVISOR_ENV} …", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(SUPERVISOR_ENV)], check=True)
    pip = [str(SUPERVISOR_ENV / "bin" / "python"), "-m", "pip", "install", "-q", "supervisor"]
    if subprocess.run(pip).returncode != 0:
        print("could not install supervisor; skipping the comparison", file=sys.stderr)
        return None
    return exe if exe.exists() else None


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(times: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``times``."""
    return times[max(0, math.ceil(q * len(times)) - 1)]


def daemon_answers(home: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1.0)
            sock.connect(str(home / "daemon.sock"))
            return bool(sock.recv(65536))
    except OSError:
        return False


class Daemon:
    """A real `cloacinactl daemon start` in its own session, one per round."""

    def __init__(self, ctl: str, home: Path, env: dict[str, str]) -> None:
        self.ctl, self.home, self.env = ctl, home, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "bench-daemon.log"

    def start(self) -> None:
        self.reap()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.ctl, "--home", str(self.home), "daemon", "start"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not daemon_answers(self.home):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start; see {self.log}")
            time.sleep(0.02)
        time.sleep(SETTLE_S)

    def reap(self) -> None:
        """Wait for a daemon the round stopped; end one that is still running, by PID."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10 if proc.poll() is None else 0)
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def measure(
    cases: list[Case], runs: int, env: dict[str, str], before_round: Callable[[], None]
) -> tuple[dict[str, list[float]], dict[str, int], dict[str, list[str]]]:
    """Wall times (ms) per case, one run of each case per round (after two warm-up rounds);
    also each case's last exit code and the stdout of its timed runs."""
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    codes: dict[str, int] = {}
    outputs: dict[str, list[str]] = {label: [] for label, _ in cases}
    for round_no in range(runs + 2):
        before_round()
        for label, argv in cases:
            start = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, env=env)
            elapsed = (time.perf_counter() - start) * 1000
            codes[label] = done.returncode
            if round_no >= 2:
                times[label].append(elapsed)
                outputs[label].append(done.stdout.decode(errors="replace"))
    return times, codes, outputs


def bench_env(mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG",)}
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cloacina-bench-pyc-")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bytecode", choices=("env", "cached"), default="env")
    parser.add_argument("--no-daemon", action="store_true", help="Skip the daemon rows.")
    parser.add_argument("--no-supervisor", action="store_true", help="Skip supervisorctl.")
    args = parser.parse_args()
    env = bench_env(args.bytecode)
    ctl = str(BIN / "cloacinactl")
    home = Path(tempfile.mkdtemp(prefix="cloacina-bench-"))
    daemon_home = Path(tempfile.mkdtemp(prefix="cloacina-bench-daemon-"))
    (home / "config.toml").write_text(
        '[profiles.prod]\nserver = "http://127.0.0.1:8080"\napi_key = "k"\n\n'
        "[daemon]\npoll_interval_ms = 250\n"
    )
    port = closed_port()
    target = ["--server", f"http://127.0.0.1:{port}", "--api-key", "x"]
    if importlib.util.find_spec("cloacinactl.cli.workflow") is not None:
        client_label, client = "workflow list (closed port)", [*target, "workflow", "list"]
    else:
        client_label = "config profile check (closed port; no workflow noun yet)"
        client = [*target, "config", "profile", "check"]
    status_idle = "cloacinactl status (nothing running)"
    status_daemon = "cloacinactl status (idle daemon running)"
    stop = "cloacinactl daemon stop (idle daemon)"
    cases: list[Case] = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("cloacinactl --help", [ctl, "--help"]),
        ("cloacinactl config list", [ctl, "--home", str(home), "config", "list"]),
        (f"cloacinactl {client_label}", [ctl, "--home", str(home), *client]),
        (status_idle, [ctl, "--home", str(home), "status"]),
    ]
    sup = None if args.no_supervisor else supervisorctl()
    if sup is not None:
        cases.append(("supervisorctl --help", [str(sup), "--help"]))
    daemon = Daemon(ctl, daemon_home, env)
    if not args.no_daemon:
        cases.append((status_daemon, [ctl, "--home", str(daemon_home), "status"]))
        cases.append((stop, [ctl, "--home", str(daemon_home), "daemon", "stop"]))
    print(f"{'command':<72} {'median':>8} {'p90':>8} {'p95':>8} {'min':>8}  exit")
    try:
        all_times, codes, outputs = measure(
            cases, args.runs, env, (lambda: None) if args.no_daemon else daemon.start
        )
    finally:
        daemon.reap()
        own_cache = env["PYTHONPYCACHEPREFIX"] if args.bytecode == "cached" else None
        for folder in (daemon_home, home, own_cache):
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
    medians, p95s = {}, {}
    for label, _ in cases:
        times, code = sorted(all_times[label]), codes[label]
        medians[label] = statistics.median(times)
        p90, p95s[label] = percentile(times, 0.90), percentile(times, 0.95)
        print(
            f"{label:<72} {medians[label]:>7.1f}ms {p90:>7.1f}ms {p95s[label]:>7.1f}ms "
            f"{times[0]:>7.1f}ms  {code}"
        )
    bytecode = (
        "cached (PYTHONPYCACHEPREFIX)"
        if args.bytecode == "cached"
        else f"as the environment says ({bytecode_note()})"
    )
    print(
        f"\nruns per command: {args.runs}, interleaved (after 2 warm-up rounds); "
        f"bytecode: {bytecode}"
    )
    help_ms = medians["cloacinactl --help"]
    print(
        f"--help median {help_ms:.1f} ms; target <= {TARGET_MS:.0f} ms: "
        f"{'OK' if help_ms <= TARGET_MS else 'MISSED'}"
    )
    if "supervisorctl --help" in medians:
        sup_ms = medians["supervisorctl --help"]
        verdict = "OK" if help_ms <= sup_ms else "SLOWER"
        print(f"vs supervisorctl --help {sup_ms:.1f} ms: {verdict}")
    for label in (status_idle, status_daemon):
        if label in p95s:
            print(
                f"{label}: p95 {p95s[label]:.1f} ms; issue bound < {STATUS_P95_MS:.0f} ms: "
                f"{'OK' if p95s[label] < STATUS_P95_MS else 'MISSED'}; aim <= "
                f"{STATUS_AIM_MS:.0f} ms: {'OK' if p95s[label] <= STATUS_AIM_MS else 'MISSED'}"
            )
    running = [
        bool(re.search(r"^daemon\s+running", out, re.M)) for out in outputs.get(status_daemon, [])
    ]
    if not all(running):
        print(f"WARNING: {status_daemon}: {running.count(False)} runs did not see it running")
    if stop in medians:
        waited = [float(m.group(1)) for out in outputs[stop] if (m := STOPPED.search(out))]
        print(
            f"{stop}: median {medians[stop]:.1f} ms; target <= {STOP_MEDIAN_MS:.0f} ms: "
            f"{'OK' if medians[stop] <= STOP_MEDIAN_MS else 'MISSED'}"
        )
        if waited:
            print(
                f"  of which signal-to-exit (the daemon's own shutdown, as stop reports it): "
                f"median {statistics.median(waited) * 1000:.0f} ms over {len(waited)} runs"
            )
    return 0


def bytecode_note() -> str:
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "PYTHONDONTWRITEBYTECODE set: cloacinactl's modules compile on every run"
    return "bytecode cached beside the sources"


if __name__ == "__main__":
    sys.exit(main())

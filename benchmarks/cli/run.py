"""CLI start-up benchmark: whole-process wall time of common cloacinactl commands.

Run:  .venv/bin/python benchmarks/cli/run.py [--runs N]

Compares `cloacinactl --help` with `supervisorctl --help` (Supervisor is
installed into .bench-envs/supervisor on first run). Prints median, p90, min.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SUPERVISOR_ENV = ROOT / ".bench-envs" / "supervisor"
TARGET_MS = 150.0


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


def measure(
    cases: list[tuple[str, list[str]]], runs: int, env: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Wall times (ms) per case; cases are interleaved run by run so that load from
    other processes on the machine hits every command alike. Two warm-ups first."""
    codes = {}
    for label, argv in cases:
        for _ in range(2):
            codes[label] = subprocess.run(argv, capture_output=True, env=env).returncode
    times: dict[str, list[float]] = {label: [] for label, _ in cases}
    for _ in range(runs):
        for label, argv in cases:
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, env=env)
            times[label].append((time.perf_counter() - start) * 1000)
    return times, codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG",)}
    ctl = str(BIN / "cloacinactl")
    home = Path(tempfile.mkdtemp(prefix="cloacina-bench-"))
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
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("cloacinactl --help", [ctl, "--help"]),
        ("cloacinactl config list", [ctl, "--home", str(home), "config", "list"]),
        (f"cloacinactl {client_label}", [ctl, "--home", str(home), *client]),
    ]
    sup = supervisorctl()
    if sup is not None:
        cases.append(("supervisorctl --help", [str(sup), "--help"]))
    print(f"{'command':<72} {'median':>8} {'p90':>8} {'min':>8}  exit")
    medians = {}
    all_times, codes = measure(cases, args.runs, env)
    for label, _ in cases:
        times, code = sorted(all_times[label]), codes[label]
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
        medians[label] = statistics.median(times)
        print(f"{label:<72} {medians[label]:>7.1f}ms {p90:>7.1f}ms {times[0]:>7.1f}ms  {code}")
    help_ms = medians["cloacinactl --help"]
    print(f"\nruns per command: {args.runs}, interleaved (after 2 warm-ups)")
    print(
        f"--help median {help_ms:.1f} ms; target <= {TARGET_MS:.0f} ms: "
        f"{'OK' if help_ms <= TARGET_MS else 'MISSED'}"
    )
    if "supervisorctl --help" in medians:
        sup_ms = medians["supervisorctl --help"]
        verdict = "OK" if help_ms <= sup_ms else "SLOWER"
        print(f"vs supervisorctl --help {sup_ms:.1f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Supervisor benchmark: cloacina vs supervisord vs circus (one command).

    .venv/bin/python benchmarks/supervisor/run.py [--quick] [--idle-seconds 60]
        [--lines 1000000] [--crash-seconds 60] [--only restart,stop,idle,logs,crash]
        [--systems cloacina,supervisord,circus]

Installs supervisord and circus into .bench-envs/supervisor-peers on first
use. Prints p50/p95/max per scenario and system, and a JSON dump at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenarios
from systems import SYSTEMS, ensure_peers


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short windows and fewer rounds")
    p.add_argument("--idle-seconds", type=float, default=None)
    p.add_argument("--lines", type=int, default=None)
    p.add_argument("--crash-seconds", type=float, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--only", default="restart,stop,idle,logs,crash")
    p.add_argument("--systems", default="cloacina,supervisord,circus")
    a = p.parse_args()
    quick = a.quick
    idle_s = a.idle_seconds or (10.0 if quick else 60.0)
    lines = a.lines or (100_000 if quick else 1_000_000)
    crash_s = a.crash_seconds or (15.0 if quick else 60.0)
    rounds = a.rounds or (10 if quick else 30)
    only = set(a.only.split(","))
    names = a.systems.split(",")
    if any(n != "cloacina" for n in names):
        ensure_peers()
    results: dict[str, dict[str, Any]] = {}
    base = Path(tempfile.mkdtemp(prefix="bench-supervisor-"))
    try:
        for name in names:
            r: dict[str, Any] = {}
            cls = SYSTEMS[name]
            if "restart" in only:
                r["restart"] = scenarios.restart_latency(cls(base / name / "restart"), rounds)
                show(name, "child killed -> replacement running", r["restart"])
            if "stop" in only:
                r["stop"] = scenarios.stop_all(cls(base / name / "stop"), max(3, rounds // 5), 1.0)
                show(name, "SIGTERM -> all gone (stubborn child, grace 1s)", r["stop"])
            if "idle" in only:
                r["idle"] = scenarios.idle(cls(base / name / "idle"), idle_s)
                show(name, f"idle over {idle_s:g}s", r["idle"])
            if "logs" in only:
                r["logs"] = scenarios.log_integrity(
                    cls(base / name / "logs"), lines, max_bytes=8 * 2**20, fast_days=2.0
                )
                show(name, "log integrity", r["logs"])
            if "crash" in only and name == "cloacina":
                r["crash"] = scenarios.crash_loop(base / name / "crash", crash_s)
                show(name, f"crash loop {crash_s:g}s", r["crash"])
            results[name] = r
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


def show(system: str, title: str, figures: dict[str, Any]) -> None:
    text = "  ".join(f"{k}={v}" for k, v in figures.items())
    print(f"{system:<12} {title:<48} {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

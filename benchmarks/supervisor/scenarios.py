"""The measurements. Each returns a dict of figures for one system."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from systems import HERE, Ours, System

CHILD = [sys.executable, str(HERE / "children.py")]
LINE = re.compile(r"L(\d{8}) x{60}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(values_ms, 0.50), 1),
        "p95_ms": round(pct(values_ms, 0.95), 1),
        "max_ms": round(max(values_ms), 1) if values_ms else float("nan"),
        "n": len(values_ms),
    }


def restart_latency(system: System, rounds: int) -> dict[str, Any]:
    """SIGKILL the child; time until a replacement process exists."""
    system.start([*CHILD, "sleep"], 1, fast_crash_s=0.05)
    samples: list[float] = []
    try:
        for _ in range(rounds):
            time.sleep(0.15)  # let the child live past the fast-crash window
            (old,) = system.children()
            t0 = time.perf_counter()
            old.kill()
            while True:
                now = [c for c in system.children() if c.pid != old.pid]
                if now:
                    samples.append((time.perf_counter() - t0) * 1000)
                    break
                if time.perf_counter() - t0 > 10:
                    samples.append(10_000.0)
                    break
                time.sleep(0.0005)
    finally:
        system.stop()
    return summary(samples)


def stop_all(system: System, rounds: int, grace: float) -> dict[str, Any]:
    """SIGTERM the supervisor with a SIGTERM-ignoring child (and grandchild)."""
    samples: list[float] = []
    orphans = 0
    for _ in range(rounds):
        system.start([*CHILD, "stubborn"], 1, grace=grace)
        deadline = time.monotonic() + 10
        tree: list[psutil.Process] = []
        while time.monotonic() < deadline:
            tree = system.supervisor_process().children(recursive=True)
            if len(tree) >= 2:
                break
            time.sleep(0.01)
        everyone = [system.supervisor_process(), *tree]
        t0 = time.perf_counter()
        assert system.proc is not None
        system.proc.send_signal(15)
        end = t0 + grace + 10
        while time.perf_counter() < end:
            alive = [p for p in everyone if _alive(p)]
            if not alive:
                break
            time.sleep(0.002)
        samples.append((time.perf_counter() - t0) * 1000)
        left = [p for p in everyone if _alive(p)]
        orphans += len(left)
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        system.kill()
    out = summary(samples)
    out["orphans"] = orphans
    out["grace_ms"] = grace * 1000
    return out


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def idle(system: System, seconds: float) -> dict[str, Any]:
    """RSS, CPU and wake-ups of the supervisor process with two idle children."""
    system.start([*CHILD, "sleep"], 2)
    try:
        time.sleep(2.0)
        proc = system.supervisor_process()
        cpu0 = proc.cpu_times()
        ctx0 = proc.num_ctx_switches()
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        cpu1 = proc.cpu_times()
        ctx1 = proc.num_ctx_switches()
        rss = proc.memory_info().rss
    finally:
        system.stop()
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall * 100
    wakeups = (ctx1.voluntary + ctx1.involuntary - ctx0.voluntary - ctx0.involuntary) / wall
    return {
        "rss_mib": round(rss / 2**20, 1),
        "cpu_pct": round(cpu, 3),
        "wakeups_per_s": round(wakeups, 2),
        "window_s": round(wall, 1),
    }


def log_integrity(system: System, lines: int, max_bytes: int, fast_days: float) -> dict[str, Any]:
    """A child prints numbered lines; count missing/duplicated/split lines in the files."""
    t0 = time.perf_counter()
    system.start([*CHILD, "lines", str(lines)], 1, log_max_bytes=max_bytes, fast_days=fast_days)
    deadline = time.monotonic() + 600
    # Done when the child has exited and the supervisor has written everything.
    while time.monotonic() < deadline:
        if not system.children() and _count_quick(system) >= lines:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    system.stop()
    seen: dict[int, int] = {}
    split = 0
    for path in system.log_files():
        with path.open("rb") as fh:
            for raw in fh:
                text = raw.decode("utf-8", "replace").rstrip("\n")
                if isinstance(system, Ours):
                    try:
                        record = json.loads(text)
                    except ValueError:
                        split += 1
                        continue
                    text = str(record.get("message", ""))
                    if record.get("stream") != "stdout":
                        continue
                match = LINE.fullmatch(text)
                if match is None:
                    split += 1
                    continue
                n = int(match.group(1))
                seen[n] = seen.get(n, 0) + 1
    missing = sum(1 for i in range(lines) if i not in seen)
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    return {
        "lines": lines,
        "missing": missing,
        "duplicated": duplicated,
        "split": split,
        "files": len(system.log_files()),
        "lines_per_s": round(lines / elapsed),
    }


def _count_quick(system: System) -> int:
    total = 0
    for path in system.log_files():
        with contextlib.suppress(OSError), path.open("rb") as fh:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return total


def crash_loop(workdir: Path, seconds: float) -> dict[str, Any]:
    """Ours only: a child that exits at once; restart gaps vs the policy; probe latency."""
    from cloacinactl.supervisor import BackoffPolicy

    system = Ours(workdir)
    system.start([*CHILD, "crash"], 1, crash_loop=True)
    home = system.dir / "home"
    deadline = time.monotonic() + 30
    while not (home / "daemon.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    probe_ms: list[float] = []
    cli_ms: list[float] = []
    proc = system.supervisor_process()
    cpu0 = proc.cpu_times()
    t_start = time.monotonic()
    while time.monotonic() - t_start < seconds:
        t0 = time.perf_counter()
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(str(home / "daemon.sock"))
            while s.recv(65536):
                pass
        probe_ms.append((time.perf_counter() - t0) * 1000)
        if len(cli_ms) < 10:
            t0 = time.perf_counter()
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "cloacinactl"),
                    "--home",
                    str(home),
                    "daemon",
                    "status",
                ],
                capture_output=True,
                check=True,
            )
            cli_ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.5)
    cpu1 = proc.cpu_times()
    cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (time.monotonic() - t_start) * 100
    t0 = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "cloacinactl"), "--home", str(home), "daemon", "stop"],
        capture_output=True,
        check=True,
    )
    stop_ms = (time.perf_counter() - t0) * 1000
    system.stop()
    # Restart gaps from the log: "child exited" then the next "child started" is debug;
    # use consecutive exits: gap = delay + run time of the next generation.
    exits = []
    for line in (home / "logs" / "cloacina.log").read_text().splitlines():
        record = json.loads(line)
        if str(record["message"]).startswith("child backoff"):
            exits.append(float(str(record["message"]).split("delay_s=")[1]))
    policy = BackoffPolicy(initial_s=0.1, max_s=2.0, fast_crash_s=1.0)
    conforming = 0
    for n, delay in enumerate(exits, start=2):
        base = policy.base_delay(n)
        if base * (1 - policy.jitter) - 1e-3 <= delay <= base * (1 + policy.jitter) + 1e-3:
            conforming += 1
    return {
        "window_s": seconds,
        "restarts_with_backoff": len(exits),
        "delays_on_schedule": f"{conforming}/{len(exits)}",
        "cpu_pct": round(cpu, 2),
        "probe": summary(probe_ms),
        "cli_status": summary(cli_ms),
        "cli_stop_ms": round(stop_ms, 1),
        "median_delay_s": round(statistics.median(exits), 3) if exits else None,
    }

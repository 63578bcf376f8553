"""What the local machine knows about a service: its PID file and its process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from cloacinactl.supervisor.pidfile import find_owner


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    uptime_s: float
    rss_bytes: int
    cpu_percent: float
    meta: dict[str, Any]


def process_info(pid_path: Path, cpu_sample_s: float = 0.0) -> ProcessInfo | None:
    """The verified live owner of ``pid_path`` with its figures, or None."""
    _, owner = find_owner(pid_path)
    if owner is None:
        return None
    proc = owner.process
    try:
        with proc.oneshot():
            rss = proc.memory_info().rss
            created = proc.create_time()
            times = proc.cpu_times()
        if cpu_sample_s > 0:
            cpu = proc.cpu_percent(interval=cpu_sample_s)
        else:
            # Average over the life of the process: no waiting on the probe path.
            life = max(time.time() - created, 1e-6)
            cpu = 100.0 * (times.user + times.system) / life
    except psutil.Error:
        return None
    return ProcessInfo(
        pid=proc.pid,
        uptime_s=max(0.0, time.time() - created),
        rss_bytes=rss,
        cpu_percent=round(cpu, 2),
        meta=owner.record.meta,
    )

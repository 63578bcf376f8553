"""What the local machine knows about a service: its PID file and its process.

psutil and the PID-file protocol are imported only when there is a PID file
to look at, so ``status`` with nothing running never pays for them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloacinactl.supervisor.pidfile import PidRecord


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    uptime_s: float
    rss_bytes: int
    cpu_percent: float
    meta: dict[str, Any]


def pid_record(pid_path: Path) -> PidRecord | None:
    """What ``pid_path`` says (no liveness check), or None when there is no such file."""
    if not os.path.exists(pid_path):
        return None
    from cloacinactl.supervisor.pidfile import read_pid_file

    return read_pid_file(pid_path)


def process_info(pid_path: Path, cpu_sample_s: float = 0.0) -> ProcessInfo | None:
    """The verified live owner of ``pid_path`` with its figures, or None."""
    if not os.path.exists(pid_path):
        return None
    import psutil

    from cloacinactl.supervisor.pidfile import find_owner

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

"""Worker memory: resident-set readings and the OOM killer's choice (no trio).

Imported by the worker program too, so it stays light: ``os`` only, psutil
loaded lazily where there is no ``/proc`` (macOS, the BSDs).

- :func:`rss_bytes` reads a process's resident set size from
  ``/proc/<pid>/statm`` (a few microseconds; psutil elsewhere).
- :func:`prefer_as_oom_victim` raises the calling process's
  ``oom_score_adj`` (raising needs no privilege), so under memory pressure the
  kernel kills a worker (one failed attempt, the worker replaced) rather than
  the supervisor that owns the database.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

MIB = 1 << 20
OOM_SCORE_ADJ_MAX = 1000
WORKER_OOM_BOOST = 500  # how far above its parent a worker asks to be


@functools.cache
def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes; None when the process is gone."""
    if sys.platform.startswith("linux"):
        try:
            fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
        except OSError:
            return None
        try:
            fields = os.read(fd, 128).split()
        except OSError:
            return None
        finally:
            os.close(fd)
        return int(fields[1]) * _page_size() if len(fields) > 1 else None
    import psutil  # no /proc here

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return None


def mib(size: int) -> int:
    """Bytes as whole MiB (rounded to nearest), for messages and logs."""
    return (size + MIB // 2) // MIB


def raised_oom_score(current: int) -> int:
    """The ``oom_score_adj`` a worker takes given its parent's ``current`` (pure).

    At least ``WORKER_OOM_BOOST``, and ``WORKER_OOM_BOOST`` above a parent that
    already raised its own, capped at the kernel's maximum; never lower than
    ``current`` (lowering would need privilege).
    """
    return min(OOM_SCORE_ADJ_MAX, max(WORKER_OOM_BOOST, current + WORKER_OOM_BOOST))


def prefer_as_oom_victim(path: str = "/proc/self/oom_score_adj") -> int | None:
    """Raise this process's ``oom_score_adj``; the new value, or None where that
    is not possible (no such file off Linux, a read-only ``/proc``)."""
    with contextlib.suppress(OSError, ValueError):
        with open(path, "r+") as file:
            score = raised_oom_score(int(file.read().strip()))
            file.seek(0)
            file.write(f"{score}\n")
        return score
    return None

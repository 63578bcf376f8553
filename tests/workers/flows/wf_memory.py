"""Tasks that hog or leak memory, for the worker memory-limit tests."""

from __future__ import annotations

import os
import time

from cloacinactl.workers.memory import MIB, rss_bytes

HELD: list[bytes] = []  # what ``leak`` never gives back (module state: lives as long as the worker)


def _touched(size_mib: int) -> bytes:
    return b"\x01" * (size_mib * MIB)  # written, so resident (bytes(n) would not be)


def hog(ctx):
    """Take ``mib`` MiB in 8 MiB steps, then hold it until killed (or ``hold`` s)."""
    print(f"hogging {ctx.get('mib', 400)} MiB", flush=True)
    chunks = [_touched(8) for _ in range(int(ctx.get("mib", 400)) // 8)]
    time.sleep(float(ctx.get("hold", 3600)))
    return {"held": len(chunks)}


def leak(ctx):
    """Keep ``mib`` more MiB for the worker's whole life; report pid and RSS."""
    HELD.append(_touched(int(ctx.get("mib", 60))))
    rss = rss_bytes(os.getpid()) or 0
    return {"pid": os.getpid(), "held": len(HELD), "rss_mib": rss // MIB}


def quick(ctx):
    return {"n": ctx.get("n", 0) + 1, "pid": os.getpid()}

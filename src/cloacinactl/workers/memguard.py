"""The per-worker memory limit, kept off the hot path (trio).

A worker that grows past the limit is dealt with in one of two ways:

- **during an attempt** (a task that hogs memory): the worker is killed (its
  whole process group, as a timeout does) and that attempt fails with kind
  ``memory_limit``; in a chunk, the attempts behind it never started and run
  elsewhere. An attempt is only killed once it has been running at a previous
  scan too, so a quick attempt that crosses the limit just before it returns
  is not failed: its worker is recycled right after (next point).
- **between attempts** (a leak that survived the call): the idle worker is
  recycled like ``max_calls_per_worker`` does; no attempt fails.

Costs: one pool task scans the workers every ``interval_s`` (one
``/proc/<pid>/statm`` read per worker it looks at), and the pool reads a
worker's RSS when a call (or a chunk of calls) returns only if that worker was
not read within the last ``interval_s``; quick attempts read nothing.
"""

from __future__ import annotations

from typing import Protocol

import trio
from loguru import logger

from .exchange import replace_worker
from .memory import MIB, mib, rss_bytes
from .slots import Call, Slot

SCAN_INTERVAL_S = 0.1


class PoolCore(Protocol):
    """What the guard needs of the pool (``core.PoolCore``): its slots, and recycling."""

    _slots: list[Slot]

    def _recycle(self, slot: Slot, why: str, level: str = "INFO") -> None: ...


class MemoryGuard:
    """Checks worker RSS against ``limit_mb`` for one pool."""

    def __init__(self, limit_mb: int, interval_s: float = SCAN_INTERVAL_S) -> None:
        self.limit_mb = limit_mb
        self.limit = limit_mb * MIB
        self.interval_s = interval_s

    def over(self, slot: Slot) -> int | None:
        """The worker's RSS in bytes when it is over the limit, else None (reads it now)."""
        slot.rss_checked_at = trio.current_time()
        rss = None if slot.pid is None else rss_bytes(slot.pid)
        return rss if rss is not None and rss > self.limit else None

    def recycle_if_over(self, core: PoolCore, slot: Slot) -> bool:
        """Recycle the idle worker of ``slot`` when it is over the limit (reads it now)."""
        rss = self.over(slot)
        if rss is None:
            return False
        core._recycle(slot, f"RSS {mib(rss)} MiB over the {self.limit_mb} MiB limit")
        return True

    def after_call(self, core: PoolCore, slot: Slot) -> bool:
        """:meth:`recycle_if_over`, unless this worker was read less than
        ``interval_s`` ago (so a stream of quick calls reads nothing)."""
        if trio.current_time() - slot.rss_checked_at < self.interval_s:
            return False
        return self.recycle_if_over(core, slot)

    async def watch(self, core: PoolCore, stop: trio.Event) -> None:
        """Scan every worker each ``interval_s`` until ``stop`` is set."""
        while True:
            with trio.move_on_after(self.interval_s):
                await stop.wait()
                return
            for slot in core._slots:
                self._scan(core, slot)

    def _scan(self, core: PoolCore, slot: Slot) -> None:
        if not slot.ready:
            return
        call = slot.call
        if call is None:
            if not slot.busy:  # idle (a reserved slot is about to get its call)
                self.recycle_if_over(core, slot)
            return
        if call.memory is not None or call.generation != slot.generation:
            return
        if call.seen_at != slot.calls:
            # the attempt now running was not running at the last scan: give it one
            call.seen_at = slot.calls
            return
        rss = self.over(slot)
        if rss is not None:
            self.kill(slot, call, rss)

    def kill(self, slot: Slot, call: Call, rss: int) -> None:
        """Kill a worker that grew past the limit during ``call`` (its whole group, at
        once); the call fails with kind ``memory_limit``. Answers the worker wrote
        before it died still count; nobody else is given this worker."""
        logger.warning(
            "worker over its memory limit, killing it index={} pid={} rss_mib={} limit_mib={}",
            slot.index,
            call.pid,
            mib(rss),
            self.limit_mb,
        )
        call.memory = (self.limit_mb, rss)
        slot.ready = False
        replace_worker(slot.child, call)

"""Worker slots and the queue of callers waiting for one (trio, no I/O).

A *slot* is one worker position ("worker 3") across its generations. A call
takes a ready, idle slot; when none is idle the caller waits in a FIFO queue
and the next slot that becomes available is handed to the first waiter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from cloacinactl.supervisor import ExitEvent, SupervisedChild

from .connection import Connection
from .dispatch import WorkerView, choose_worker


@dataclass
class Call:
    """One call in flight on a slot's current generation."""

    generation: int
    pid: int
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    exit: ExitEvent | None = None
    exited: trio.Event = field(default_factory=trio.Event)
    stopped: bool = False  # the pool stopped under it
    memory: tuple[int, int] | None = None  # (limit MiB, RSS bytes): the limit killed it
    seen_at: int = -1  # the slot's ``calls`` when the memory watch last saw this call


@dataclass
class Slot:
    """One worker position and the state of its current generation."""

    index: int
    child: SupervisedChild | None = None
    conn: Connection | None = None
    generation: int = 0
    pid: int | None = None
    ready: bool = False
    busy: bool = False
    sources: set[str] = field(default_factory=set)
    idle_since: int = 0
    call: Call | None = None
    pending: dict[int, Connection] = field(default_factory=dict)
    calls: int = 0  # calls answered by the current generation
    rss_checked_at: float = float("-inf")  # trio time of the last memory reading


def slot_stats(slots: Sequence[Slot], queued: int) -> dict[str, Any]:
    """Workers, ready, busy, ``queued`` callers, restarts and per-worker states."""
    states: dict[str, int] = {}
    workers = []
    for slot in slots:
        state = slot.child.state.value if slot.child is not None else "STOPPED"
        states[state] = states.get(state, 0) + 1
        workers.append(
            {
                "index": slot.index,
                "pid": slot.pid if slot.ready else None,
                "state": state,
                "generation": slot.generation,
                "busy": slot.busy,
                "sources": sorted(slot.sources),
            }
        )
    return {
        "workers": len(slots),
        "ready": sum(1 for s in slots if s.ready),
        "busy": sum(1 for s in slots if s.busy),
        "queued": queued,
        "restarts": sum(s.child.restarts if s.child is not None else 0 for s in slots),
        "states": states,
        "per_worker": workers,
    }


@dataclass
class _Waiter:
    source_id: str | None
    event: trio.Event = field(default_factory=trio.Event)
    slot: Slot | None = None
    failure: BaseException | None = None


class Dispatcher:
    """Hands ready, idle slots to callers: FIFO when queued, affinity when several are idle."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = list(slots)
        self._waiters: deque[_Waiter] = deque()
        self._tick = 0

    @property
    def queued(self) -> int:
        """Callers waiting for a worker."""
        return len(self._waiters)

    def make_available(self, slot: Slot) -> None:
        """``slot`` is ready and idle: give it to the first waiter, or mark it idle."""
        if self._waiters:
            waiter = self._waiters.popleft()
            slot.busy = True
            waiter.slot = slot
            waiter.event.set()
            return
        slot.busy = False
        self._tick += 1
        slot.idle_since = self._tick

    def fail_waiters(self, failure: BaseException) -> None:
        """Wake every waiter with ``failure`` (the pool is stopping)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.failure = failure
            waiter.event.set()

    def idle(self) -> int:
        """Slots ready and idle now (there are none while callers queue for one)."""
        return sum(1 for s in self.slots if s.ready and not s.busy)

    async def acquire(self, source_id: str | None) -> Slot:
        """A slot reserved (``busy``) for the caller; waits when none is idle."""
        if not self._waiters:
            idle = [s for s in self.slots if s.ready and not s.busy]
            if idle:
                views = [WorkerView(s.index, s.sources, s.idle_since) for s in idle]
                chosen = choose_worker(views, source_id)
                slot = next(s for s in idle if s.index == chosen)
                slot.busy = True
                return slot
        waiter = _Waiter(source_id)
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.slot is not None:  # handed a slot just as we were cancelled
                waiter.slot.busy = False
                if waiter.slot.ready:
                    self.make_available(waiter.slot)
            else:
                self._waiters.remove(waiter)
            raise
        if waiter.failure is not None:
            raise waiter.failure
        assert waiter.slot is not None
        return waiter.slot

"""Which idle worker takes a call (pure).

Prefer a worker that already imported the call's source (affinity: no second
import); among equals, the one idle the longest, so work spreads evenly.
Without affinity, prefer the worker holding the fewest sources, so each
source lands on few workers.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerView:
    """What dispatch needs to know about one idle worker."""

    index: int
    sources: Set[str]
    idle_since: int  # a monotonically increasing tick of when it became idle


def choose_worker(idle: Sequence[WorkerView], source_id: str | None) -> int:
    """Index of the idle worker that should take a call for ``source_id``."""
    if not idle:
        raise ValueError("no idle worker to choose from")
    if source_id is not None:
        warm = [w for w in idle if source_id in w.sources]
        if warm:
            return min(warm, key=lambda w: w.idle_since).index
    return min(idle, key=lambda w: (len(w.sources), w.idle_since)).index

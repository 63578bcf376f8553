"""Execution ids: time-ordered UUIDs (version 7, RFC 9562).

The id leads every index a run writes to (executions, tasks, events, outputs).
Random (version 4) ids scatter one batch's rows over the whole of each index,
so every commit rewrote a page per execution per index; ids that start with
their creation millisecond keep a batch's rows side by side, and a commit
writes a few pages. Still UUIDs, still unguessable (74 random bits).
"""

from __future__ import annotations

import random
import time
import uuid

_MS = (1 << 48) - 1
_LOW = (1 << 62) - 1


def execution_id(rng: random.Random, now_ns: int | None = None) -> str:
    """A version-7 UUID: 48 bits of Unix milliseconds, then 74 random bits from ``rng``
    (around the version and variant bits)."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    rand = rng.getrandbits(74)
    value = (ms & _MS) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & _LOW)
    return str(uuid.UUID(int=value))

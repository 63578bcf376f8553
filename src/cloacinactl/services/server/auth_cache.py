"""A small cache of authenticated keys: key hash → principal, for a few seconds.

Any revocation clears it whole (so a revoked key fails on its next request); the
short lifetime bounds how long a key revoked by *another* server on the same
database keeps working here. Only successful look-ups are cached, so unknown
keys cannot fill it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")

TTL_S = 5.0
MAX_ENTRIES = 10_000


class AuthCache(Generic[V]):
    def __init__(
        self,
        *,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[V, float]] = {}

    def get(self, key_hash: str) -> V | None:
        found = self._entries.get(key_hash)
        if found is None:
            return None
        value, expires = found
        if self._clock() >= expires:
            del self._entries[key_hash]
            return None
        return value

    def put(self, key_hash: str, value: V) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_hash] = (value, self._clock() + self.ttl_s)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

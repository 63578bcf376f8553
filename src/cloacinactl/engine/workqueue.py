"""What the engine's writer has still to write, shared by trio and the writer's thread.

Trio adds new executions (with the event their creator waits on) and finished
attempts; the writer's thread takes everything queued for its next cycle, and
hands back what a failed cycle could not write. Both sides touch the lists, so
every take and add holds one lock: an ``append`` that had fetched the list
before a swap would otherwise land in a list already taken, and be lost.

It also counts claims committed on the writer's thread and not yet handed to
trio, so the next cycle's claim limit sees them before they reach the in-flight
table.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

C = TypeVar("C")  # a new execution to create
R = TypeVar("R")  # a result (outcome) to record


class WorkQueue(Generic[C, R]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._creates: list[C] = []
        self._outcomes: list[R] = []
        self._undelivered = 0

    def add_create(self, item: C) -> None:
        with self._lock:
            self._creates.append(item)

    def add_outcome(self, item: R) -> None:
        with self._lock:
            self._outcomes.append(item)

    def take(self) -> tuple[list[C], list[R]]:
        """Everything queued, oldest first; the queue is left empty."""
        with self._lock:
            creates, self._creates = self._creates, []
            outcomes, self._outcomes = self._outcomes, []
        return creates, outcomes

    def put_back(self, creates: list[C], outcomes: list[R]) -> None:
        """Return taken work to the front (it was not written)."""
        with self._lock:
            self._creates = creates + self._creates
            self._outcomes = outcomes + self._outcomes

    def pending(self) -> bool:
        return bool(self._creates or self._outcomes)

    def outcomes(self) -> list[R]:
        """A copy of the queued outcomes (for a last write on shutdown)."""
        with self._lock:
            return list(self._outcomes)

    @property
    def undelivered(self) -> int:
        return self._undelivered

    def claimed(self, count: int) -> None:
        """``count`` claims were committed; trio has not seen them yet."""
        with self._lock:
            self._undelivered += count

    def delivered(self, count: int) -> None:
        """Trio has put ``count`` claims in its in-flight table."""
        with self._lock:
            self._undelivered -= count

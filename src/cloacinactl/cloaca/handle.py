"""The task handle type a task receives when its second parameter is ``handle``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class TaskHandle(Protocol):
    """Provided by the worker at run time (for type hints: ``handle: cloaca.TaskHandle``)."""

    def defer_until(self, condition: Callable[[], bool], poll_interval_ms: int = 1000) -> None:
        """Block until ``condition()`` is true, polling every ``poll_interval_ms``."""
        ...

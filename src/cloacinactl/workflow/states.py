"""Task states and execution statuses (design §9), and the model's error."""

from __future__ import annotations

from enum import StrEnum


class ModelError(ValueError):
    """A definition is malformed (raised at import time of a workflow package)."""


class TaskState(StrEnum):
    """Lifecycle of one task of an execution (design §9)."""

    NOT_STARTED = "NotStarted"
    READY = "Ready"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_TASK_STATES


# membership here is what ``is_terminal`` answers, without a property call (hot path)
TERMINAL_TASK_STATES = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.SKIPPED})


class ExecutionStatus(StrEnum):
    """Lifecycle of one execution (design §9). Paused is active, not terminal: it is
    entered from Pending or Running and left by resume (or cancel)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    PAUSED = "Paused"

    @property
    def is_terminal(self) -> bool:
        return self in (
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
        )


ACTIVE_STATUSES: tuple[str, ...] = (
    ExecutionStatus.PENDING.value,
    ExecutionStatus.RUNNING.value,
    ExecutionStatus.PAUSED.value,
)
"""The statuses of an execution that is not finished (Paused included)."""

ADVANCING_STATUSES: tuple[str, ...] = (ExecutionStatus.PENDING.value, ExecutionStatus.RUNNING.value)
"""The active statuses whose DAG still advances when a task finishes (not Paused)."""

TERMINAL_STATUSES: tuple[str, ...] = (
    ExecutionStatus.COMPLETED.value,
    ExecutionStatus.FAILED.value,
    ExecutionStatus.CANCELLED.value,
)
"""The statuses of a finished execution."""

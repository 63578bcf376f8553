"""The explicit child-process states (after Supervisor's) and their legal moves."""

from __future__ import annotations

import enum


class ChildState(enum.Enum):
    """Where a supervised child is in its life."""

    STOPPED = "STOPPED"  # not started, or stopped on request
    STARTING = "STARTING"  # spawned, not yet ready
    RUNNING = "RUNNING"  # ready
    BACKOFF = "BACKOFF"  # exited too fast; waiting before the next start
    STOPPING = "STOPPING"  # SIGTERM sent to the group, waiting for exit
    EXITED = "EXITED"  # exited on its own (decision to restart pending)
    FATAL = "FATAL"  # gave up after repeated fast crashes, or could not spawn


TRANSITIONS: dict[ChildState, frozenset[ChildState]] = {
    ChildState.STOPPED: frozenset({ChildState.STARTING}),
    ChildState.STARTING: frozenset({ChildState.RUNNING, ChildState.EXITED, ChildState.STOPPING}),
    ChildState.RUNNING: frozenset({ChildState.EXITED, ChildState.STOPPING}),
    ChildState.EXITED: frozenset(
        {ChildState.STARTING, ChildState.BACKOFF, ChildState.FATAL, ChildState.STOPPED}
    ),
    ChildState.BACKOFF: frozenset({ChildState.STARTING, ChildState.STOPPED}),
    # STOPPING → STARTING: restart() ended the generation on purpose.
    ChildState.STOPPING: frozenset({ChildState.STOPPED, ChildState.STARTING}),
    ChildState.FATAL: frozenset({ChildState.STARTING}),
}


def can_move(old: ChildState, new: ChildState) -> bool:
    """Whether ``old → new`` is a legal transition."""
    return new in TRANSITIONS[old]

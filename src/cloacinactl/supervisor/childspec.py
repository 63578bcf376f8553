"""What a supervised child is told and what its owner hears back: plain data.

``ChildSpec`` says what to run and how to treat it; the ``prepare`` hook gives
each generation a ``PreparedStart``; the ``exited`` hook receives an
``ExitEvent``; ``ChildFatal`` says the child never got ready. Supervising it
(``SupervisedChild``) is ``child``'s job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from cloacinactl.supervisor.backoff import BackoffPolicy

# Receives a batch of complete lines (without newlines) and the labels of their pipe.
LogSink = Callable[[Sequence[bytes], Mapping[str, Any]], None]


@dataclass(frozen=True)
class ChildSpec:
    """What to run and how to treat it."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    grace_s: float = 5.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    autorestart: bool = True
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    # When set, each generation gets a record pipe (fd in CLOACINA_LOG_FD) whose
    # JSON lines go to log_sink; with capture_output, stdout/stderr lines too.
    log_sink: LogSink | None = None
    capture_output: bool = False


@dataclass
class PreparedStart:
    """Returned by the ``prepare`` hook: what this generation receives.

    ``pass_fds`` are inherited by the child; ``env`` is merged over the spec's;
    ``after_spawn`` runs in the parent once the process exists (or failed to
    spawn), typically to close the parent's copy of the child's socket end.
    """

    pass_fds: Sequence[int] = ()
    env: Mapping[str, str] | None = None
    after_spawn: Callable[[], None] | None = None


@dataclass(frozen=True)
class ExitEvent:
    """A generation ended. ``returncode`` < 0 means killed by that signal."""

    name: str
    generation: int
    pid: int
    returncode: int
    run_seconds: float
    requested: bool  # True when the exit followed our own stop() or restart()


PrepareHook = Callable[[int], PreparedStart]
StartedHook = Callable[[int, trio.Process], Awaitable[None]]
ExitedHook = Callable[[ExitEvent], None]


class ChildFatal(Exception):
    """The child gave up (FATAL) before it was ever ready."""


def jitter_free(policy: BackoffPolicy) -> BackoffPolicy:
    """The same policy without jitter (deterministic schedules in tests and benchmarks)."""
    return BackoffPolicy(
        initial_s=policy.initial_s,
        factor=policy.factor,
        max_s=policy.max_s,
        jitter=0.0,
        fast_crash_s=policy.fast_crash_s,
        max_fast_crashes=policy.max_fast_crashes,
    )

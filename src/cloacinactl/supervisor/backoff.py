"""Pure restart policy: exponential backoff with jitter, a cap and a fatal limit.

No trio, no I/O, no clock: callers pass the run time of the generation that
just ended and a random number in ``[0, 1)``; the policy answers how long to
wait before the next start, or that the child should be given up (FATAL).
"""

from __future__ import annotations

from dataclasses import dataclass

from cloacinactl.errors import UserError
from cloacinactl.workflow import backoff


@dataclass(frozen=True)
class BackoffPolicy:
    """When to restart a child that exited.

    ``fast_crash_s``: a generation that lived less than this counts as a fast
    crash. The first restart after any exit is immediate; each further
    consecutive fast crash waits ``initial_s * factor ** (n - 2)`` seconds
    (capped at ``max_s``, then ±``jitter`` of itself). More than
    ``max_fast_crashes`` consecutive fast crashes gives up (FATAL). A
    generation that lived at least ``fast_crash_s`` resets the count.
    """

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.25
    fast_crash_s: float = 1.0
    max_fast_crashes: int = 8

    def __post_init__(self) -> None:
        if self.initial_s < 0 or self.max_s < 0 or self.fast_crash_s < 0:
            raise UserError("backoff durations must not be negative")
        if self.factor < 1.0:
            raise UserError("backoff factor must be at least 1")
        if not 0.0 <= self.jitter < 1.0:
            raise UserError("backoff jitter must be in [0, 1)")
        if self.max_fast_crashes < 1:
            raise UserError("max_fast_crashes must be at least 1")

    def base_delay(self, fast_crashes: int) -> float:
        """Delay before the restart that follows the ``fast_crashes``-th crash, no jitter."""
        if fast_crashes <= 1:
            return 0.0
        exponent = min(fast_crashes - 2, 64)
        return backoff.exponential(self.initial_s, self.factor, exponent, self.max_s)

    def delay(self, fast_crashes: int, rand: float) -> float:
        """``base_delay`` with jitter applied; ``rand`` is uniform in ``[0, 1)``."""
        return backoff.jittered(self.base_delay(fast_crashes), self.jitter, rand, self.max_s)


@dataclass(frozen=True)
class RestartPlan:
    """What to do after a generation exited.

    ``fatal`` means give up; otherwise restart after ``delay_s`` seconds.
    ``fast_crashes`` is the updated consecutive fast-crash count to carry on.
    """

    fast_crashes: int
    delay_s: float
    fatal: bool


def plan_restart(
    policy: BackoffPolicy, fast_crashes: int, run_seconds: float, rand: float
) -> RestartPlan:
    """Decide the next step after a generation that ran ``run_seconds`` exited."""
    if run_seconds >= policy.fast_crash_s:
        return RestartPlan(fast_crashes=0, delay_s=0.0, fatal=False)
    count = fast_crashes + 1
    if count > policy.max_fast_crashes:
        return RestartPlan(fast_crashes=count, delay_s=0.0, fatal=True)
    return RestartPlan(fast_crashes=count, delay_s=policy.delay(count, rand), fatal=False)

"""Retry policy maths: the delay before the next attempt, and whether to retry at all.

"Transient" errors (decision, documented in the README): the task timed out,
its worker process died under it, or it raised ``TimeoutError``,
``ConnectionError`` (and subclasses), ``cloaca.TransientError`` or a subclass
of any of these. The worker classifies the exception (it has the object) and
sends ``transient`` along with the failure; this module only decides.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from cloacinactl.workflow.backoff import exponential, jittered
from cloacinactl.workflow.model import Backoff, RetryOn, RetryPolicy

JITTER_FRACTION = 0.25


@dataclass(frozen=True)
class Failure:
    """What the engine knows about a failed attempt."""

    error_type: str
    message: str
    transient: bool = False


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay_ms: int = 0
    reason: str = ""


def base_delay_ms(policy: RetryPolicy, attempt: int) -> float:
    """Delay (no jitter) before the next attempt, after attempt ``attempt`` (1-based) failed."""
    n = max(1, attempt)
    if policy.backoff is Backoff.FIXED:
        raw = float(policy.initial_delay_ms)
    elif policy.backoff is Backoff.LINEAR:
        raw = policy.initial_delay_ms * policy.multiplier * n
    else:
        return exponential(
            policy.initial_delay_ms * policy.multiplier,
            policy.base,
            n - 1,
            float(policy.max_delay_ms),
        )
    return min(raw, float(policy.max_delay_ms))


def delay_ms(
    policy: RetryPolicy,
    attempt: int,
    rng: random.Random | Callable[[], float] | None = None,
) -> int:
    """Delay in ms, with ±25 % jitter when enabled, clamped to ``[0, max_delay_ms]``.

    ``rng`` is a ``random.Random`` or a callable returning a float in [0, 1).
    """
    d = base_delay_ms(policy, attempt)
    if policy.jitter and d > 0:
        if rng is None:
            u = random.random()
        elif isinstance(rng, random.Random):
            u = rng.random()
        else:
            u = rng()
        d = jittered(d, JITTER_FRACTION, u, float(policy.max_delay_ms))
    return round(min(max(d, 0.0), float(policy.max_delay_ms)))


def is_retryable(policy: RetryPolicy, failure: Failure) -> bool:
    if policy.retry_on is RetryOn.NEVER:
        return False
    if policy.retry_on is RetryOn.ALL:
        return True
    if policy.retry_on is RetryOn.TRANSIENT:
        return failure.transient
    text = f"{failure.error_type}: {failure.message}"
    return any(p in text for p in policy.patterns)


def decide(
    policy: RetryPolicy,
    attempt: int,
    failure: Failure,
    rng: random.Random | Callable[[], float] | None = None,
) -> RetryDecision:
    """After attempt ``attempt`` (1-based) failed: retry, and after how long?"""
    if attempt >= policy.max_attempts:
        return RetryDecision(False, reason=f"attempts exhausted ({attempt}/{policy.max_attempts})")
    if not is_retryable(policy, failure):
        return RetryDecision(False, reason=f"not retryable under condition {policy.retry_on}")
    return RetryDecision(True, delay_ms(policy, attempt, rng), reason="retry")

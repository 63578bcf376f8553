"""The one backoff policy: exponential growth with a cap, then optional jitter.

Pure maths, no clock and no randomness of its own (callers pass a uniform number
in ``[0, 1)``). A task's retry delay (:mod:`cloacinactl.workflow.retry`), the
supervisor's restart delay (:mod:`cloacinactl.supervisor.backoff`) and the
engine's pause after a failed cycle all compute their delays here.
"""

from __future__ import annotations


def exponential(initial: float, factor: float, exponent: int, cap: float) -> float:
    """``initial * factor ** exponent``, at most ``cap`` (``cap`` when it overflows)."""
    try:
        raw = initial * factor**exponent
    except OverflowError:
        return cap
    return min(raw, cap)


def jittered(delay: float, fraction: float, u: float, cap: float) -> float:
    """``delay`` moved by up to ±``fraction`` of itself (``u`` uniform in ``[0, 1)``),
    clamped to ``[0, cap]``."""
    return max(0.0, min(cap, delay * (1.0 + fraction * (2.0 * u - 1.0))))

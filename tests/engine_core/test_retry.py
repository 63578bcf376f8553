import random

import pytest

from cloacinactl.workflow import Failure, RetryPolicy, decide, delay_ms, is_retryable
from cloacinactl.workflow.model import Backoff, RetryOn

ERR = Failure("ValueError", "boom")


def test_default_policy_is_the_documented_one():
    p = RetryPolicy()
    assert (p.max_attempts, p.initial_delay_ms, p.max_delay_ms) == (3, 1000, 60_000)
    assert p.backoff is Backoff.EXPONENTIAL and p.jitter and p.retry_on is RetryOn.ALL


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        (Backoff.FIXED, [100, 100, 100, 100]),
        (Backoff.LINEAR, [100, 200, 300, 400]),
        (Backoff.EXPONENTIAL, [100, 200, 400, 800]),
    ],
)
def test_strategies_without_jitter(backoff, expected):
    p = RetryPolicy(max_attempts=10, initial_delay_ms=100, backoff=backoff, jitter=False)
    assert [delay_ms(p, n) for n in (1, 2, 3, 4)] == expected


def test_cap_and_huge_attempts_do_not_overflow():
    p = RetryPolicy(initial_delay_ms=1000, max_delay_ms=5000, jitter=False)
    assert delay_ms(p, 4) == 5000
    assert delay_ms(p, 10_000) == 5000


def test_multiplier_and_base():
    p = RetryPolicy(initial_delay_ms=10, base=3.0, multiplier=2.0, jitter=False)
    assert [delay_ms(p, n) for n in (1, 2, 3)] == [20, 60, 180]


def test_jitter_stays_within_25_percent_and_uses_injected_rng():
    p = RetryPolicy(initial_delay_ms=1000, max_delay_ms=10**9)
    assert delay_ms(p, 1, lambda: 0.0) == 750
    assert delay_ms(p, 1, lambda: 0.5) == 1000
    assert delay_ms(p, 1, lambda: 0.999999) == 1250
    rng = random.Random(7)
    values = [delay_ms(p, 3, rng) for _ in range(500)]
    assert min(values) >= 3000 and max(values) <= 5000 and len(set(values)) > 50
    assert [delay_ms(p, 3, random.Random(1)) for _ in range(3)] == [
        delay_ms(p, 3, random.Random(1))
    ] * 3


def test_jitter_never_exceeds_the_cap():
    p = RetryPolicy(initial_delay_ms=1000, max_delay_ms=1000)
    assert delay_ms(p, 5, lambda: 0.999) == 1000


def test_conditions():
    transient = Failure("TimeoutError", "slow", transient=True)
    assert is_retryable(RetryPolicy(retry_on=RetryOn.ALL), ERR)
    assert not is_retryable(RetryPolicy(retry_on=RetryOn.NEVER), transient)
    assert not is_retryable(RetryPolicy(retry_on=RetryOn.TRANSIENT), ERR)
    assert is_retryable(RetryPolicy(retry_on=RetryOn.TRANSIENT), transient)
    pat = RetryPolicy(retry_on=RetryOn.PATTERN, patterns=("rate limit", "KeyError"))
    assert is_retryable(pat, Failure("HTTPError", "429 rate limit hit"))
    assert is_retryable(pat, Failure("KeyError", "x"))
    assert not is_retryable(pat, ERR)


def test_decide_counts_attempts_in_total():
    p = RetryPolicy(max_attempts=3, initial_delay_ms=10, jitter=False)
    first = decide(p, 1, ERR)
    assert first.retry and first.delay_ms == 10
    assert decide(p, 2, ERR).delay_ms == 20
    last = decide(p, 3, ERR)
    assert not last.retry and "exhausted" in last.reason
    never = decide(RetryPolicy(retry_on=RetryOn.NEVER), 1, ERR)
    assert not never.retry and "not retryable" in never.reason

"""The pure restart policy."""

from __future__ import annotations

import pytest

from cloacinactl.errors import UserError
from cloacinactl.supervisor import BackoffPolicy, ChildState, plan_restart
from cloacinactl.supervisor.states import can_move


def test_first_restart_immediate_then_exponential_with_cap() -> None:
    policy = BackoffPolicy(initial_s=0.1, factor=2.0, max_s=0.5, jitter=0.0, max_fast_crashes=10)
    delays = []
    crashes = 0
    for _ in range(6):
        plan = plan_restart(policy, crashes, run_seconds=0.01, rand=0.5)
        crashes = plan.fast_crashes
        delays.append(plan.delay_s)
    assert delays == [0.0, 0.1, 0.2, 0.4, 0.5, 0.5]


def test_jitter_stays_within_bounds() -> None:
    policy = BackoffPolicy(initial_s=1.0, jitter=0.25, max_s=100)
    assert policy.delay(2, 0.0) == pytest.approx(0.75)
    assert policy.delay(2, 0.999999) == pytest.approx(1.25, abs=1e-5)
    assert policy.delay(2, 0.5) == pytest.approx(1.0)


def test_fatal_after_repeated_fast_crashes_and_reset_after_a_long_run() -> None:
    policy = BackoffPolicy(max_fast_crashes=3, fast_crash_s=1.0)
    plan = plan_restart(policy, 3, run_seconds=0.2, rand=0.0)
    assert plan.fatal
    plan = plan_restart(policy, 3, run_seconds=5.0, rand=0.0)
    assert not plan.fatal and plan.fast_crashes == 0 and plan.delay_s == 0.0


def test_invalid_policy_is_a_user_error() -> None:
    with pytest.raises(UserError):
        BackoffPolicy(factor=0.5)
    with pytest.raises(UserError):
        BackoffPolicy(jitter=1.5)


def test_state_transitions() -> None:
    assert can_move(ChildState.STOPPED, ChildState.STARTING)
    assert can_move(ChildState.RUNNING, ChildState.STOPPING)
    assert not can_move(ChildState.STOPPED, ChildState.RUNNING)
    assert not can_move(ChildState.FATAL, ChildState.RUNNING)

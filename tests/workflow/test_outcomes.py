"""The pure outcome decision, the execution step and the one backoff policy."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from cloacinactl.supervisor.backoff import BackoffPolicy
from cloacinactl.workflow import backoff, retry
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import RetryOn, RetryPolicy, TaskDef, TaskState
from cloacinactl.workflow.outcomes import Rules, TaskSnapshot, Verdict, apply_outcome
from cloacinactl.workflow.transitions import advance_execution

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Out:
    kind: str
    attempt: int = 1
    claimant_id: str | None = "c1"
    error: dict[str, Any] | None = None
    captured: dict[str, Any] | None = None


RUN = TaskSnapshot("Running", 1, "c1", 0)
NO_JITTER = RetryPolicy(max_attempts=3, initial_delay_ms=100, jitter=False)


def test_completed() -> None:
    ch = apply_outcome(RUN, Out("completed", captured={"logs": []}), Rules(NO_JITTER, NOW))
    assert ch is not None and ch.verdict is Verdict.COMPLETED
    assert (ch.state, ch.completed_at, ch.error, ch.claimant_id) == ("Completed", NOW, None, "c1")
    assert ch.data == {"attempt": 1, "logs": []}


def test_failed_retries_then_fails() -> None:
    err = {"kind": "error", "message": "boom"}
    ch = apply_outcome(RUN, Out("failed", error=err), Rules(NO_JITTER, NOW))
    assert ch is not None and ch.verdict is Verdict.RETRY
    assert ch.state == "Ready" and ch.claimant_id is None and ch.completed_at is None
    assert ch.retry_at == NOW + dt.timedelta(milliseconds=100)
    assert ch.data["delay_ms"] == 100 and ch.error == "error: boom"
    last = TaskSnapshot("Running", 3, "c1", 0)
    ch = apply_outcome(last, Out("failed", attempt=3, error=err), Rules(NO_JITTER, NOW))
    assert ch is not None and ch.verdict is Verdict.FAILED and ch.completed_at == NOW
    never = RetryPolicy(retry_on=RetryOn.NEVER)
    ch = apply_outcome(RUN, Out("failed", error=err), Rules(never, NOW))
    assert ch is not None and ch.verdict is Verdict.FAILED
    ch = apply_outcome(RUN, Out("failed", error=err), Rules(NO_JITTER, NOW, cancelled=True))
    assert ch is not None and ch.verdict is Verdict.FAILED


def test_reset_then_abandon() -> None:
    running = TaskSnapshot("Running", 2, "c1", 0, "error: earlier")
    ch = apply_outcome(running, Out("reset", attempt=2), Rules(NO_JITTER, NOW, max_resets=1))
    assert ch is not None and ch.verdict is Verdict.RESET
    assert (ch.state, ch.attempt, ch.reset_count, ch.claimant_id) == ("Ready", 1, 1, None)
    assert ch.error == "error: earlier"
    again = TaskSnapshot("Running", 2, "c1", 1)
    ch = apply_outcome(again, Out("reset", attempt=2), Rules(NO_JITTER, NOW, max_resets=1))
    assert ch is not None and ch.verdict is Verdict.ABANDONED
    assert ch.state == "Failed" and ch.reset_count == 2 and ch.completed_at == NOW


def test_stale_outcomes_change_nothing() -> None:
    rules = Rules(NO_JITTER, NOW)
    assert apply_outcome(TaskSnapshot("Ready", 1, None, 0), Out("completed"), rules) is None
    assert apply_outcome(RUN, Out("completed", attempt=2), rules) is None
    assert apply_outcome(RUN, Out("completed", claimant_id="other"), rules) is None
    assert apply_outcome(RUN, Out("completed", claimant_id=None), rules) is not None


def test_advance_execution_runs_to_the_end() -> None:
    wf = build_workflow("w", [TaskDef("a", "m", "a"), TaskDef("b", "m", "b", dependencies=("a",))])
    adv = advance_execution(wf, {"a": TaskState.COMPLETED}, {"a": {"x": 1}}, {})
    assert [(t.task_id, t.to) for t in adv.transitions] == [("b", TaskState.READY)]
    assert adv.status is None and adv.states["b"] is TaskState.READY
    done = {"a": TaskState.COMPLETED, "b": TaskState.FAILED}
    adv = advance_execution(wf, done, {"a": {"x": 1}}, {})
    assert adv.status is not None and adv.status.value == "Failed"
    assert adv.failed_tasks == ["b"] and adv.output == {"x": 1}


def test_one_backoff_policy() -> None:
    assert backoff.exponential(0.1, 2.0, 3, 5.0) == 0.1 * 2.0**3
    assert backoff.exponential(1.0, 10.0, 10_000, 7.0) == 7.0  # overflow: the cap
    assert backoff.jittered(1.0, 0.25, 0.0, 10.0) == 0.75
    assert backoff.jittered(1.0, 0.25, 0.5, 10.0) == 1.0
    sup = BackoffPolicy(initial_s=0.1, factor=2.0, max_s=30.0, jitter=0.25)
    assert sup.base_delay(5) == backoff.exponential(0.1, 2.0, 3, 30.0)
    assert sup.delay(5, 0.9) == backoff.jittered(sup.base_delay(5), 0.25, 0.9, 30.0)
    pol = RetryPolicy(initial_delay_ms=1000, max_delay_ms=60_000)
    assert retry.base_delay_ms(pol, 4) == backoff.exponential(1000.0, 2.0, 3, 60_000.0)
    rng = random.Random(7)
    u = random.Random(7).random()
    assert retry.delay_ms(pol, 4, rng) == round(backoff.jittered(8000.0, 0.25, u, 60_000.0))

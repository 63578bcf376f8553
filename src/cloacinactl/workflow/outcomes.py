"""What a finished attempt does to its task: the pure retry / reset / abandon decision.

:func:`apply_outcome` takes the task as stored and one outcome (a completed or
failed attempt, or a recovery verdict ``reset``: the claimant died) and answers
the task's new fields and the event to record, or ``None`` when the outcome is
stale (the task was reset, cancelled or claimed again meanwhile). The engine
applies the answers in batched transactions; it decides nothing itself.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from cloacinactl.values import value
from cloacinactl.workflow.policy import RetryPolicy
from cloacinactl.workflow.retry import Failure, decide
from cloacinactl.workflow.states import TaskState

RUNNING = TaskState.RUNNING.value


class Verdict(StrEnum):
    """What happened to the task (each names the event the engine records)."""

    COMPLETED = "completed"
    RETRY = "retry"  # failed, tried again after a delay
    FAILED = "failed"
    RESET = "reset"  # the claimant died: the attempt did not happen, run it again
    ABANDONED = "abandoned"  # reset too often: failed


class OutcomeLike(Protocol):
    """A finished attempt (``completed``/``failed``) or a recovery verdict (``reset``)."""

    @property
    def kind(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def claimant_id(self) -> str | None: ...
    @property
    def error(self) -> dict[str, Any] | None: ...
    @property
    def captured(self) -> dict[str, Any] | None: ...


@value(slots=True)
class TaskSnapshot:
    """The task's stored fields the decision reads."""

    state: str
    attempt: int
    claimant_id: str | None
    reset_count: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """What the decision depends on besides the task and the outcome."""

    policy: RetryPolicy  # the task's retry policy
    now: dt.datetime
    cancelled: bool = False  # the execution was cancelled: no retry, no reset
    max_resets: int = 3
    rng: random.Random | Callable[[], float] | None = None


@value(slots=True)
class TaskChange:
    """The task's fields after the outcome, and the event's data."""

    verdict: Verdict
    state: str
    attempt: int
    claimant_id: str | None
    reset_count: int
    error: str | None
    retry_at: dt.datetime | None
    completed_at: dt.datetime | None
    data: dict[str, Any]


def error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return "unknown error"
    return f"{error.get('kind', 'error')}: {error.get('message', '')}"


def is_stale(task: TaskSnapshot, outcome: OutcomeLike) -> bool:
    """The task is no longer Running this attempt for this claimant."""
    if task.state != RUNNING or task.attempt != outcome.attempt:
        return True
    return bool(outcome.claimant_id) and task.claimant_id != outcome.claimant_id


def apply_outcome(task: TaskSnapshot, outcome: OutcomeLike, rules: Rules) -> TaskChange | None:
    """The task's change after ``outcome``; ``None`` when the outcome is stale."""
    if is_stale(task, outcome):
        return None
    if outcome.kind == "completed":
        data = {"attempt": outcome.attempt, **(outcome.captured or {})}
        return _change(task, Verdict.COMPLETED, TaskState.COMPLETED, data, completed_at=rules.now)
    if outcome.kind == "failed":
        return _failed(task, outcome, rules)
    return _reset(task, outcome, rules)


def _change(
    task: TaskSnapshot,
    verdict: Verdict,
    state: TaskState,
    data: dict[str, Any],
    *,
    attempt: int | None = None,
    claimant_id: str | None = None,
    keep_claimant: bool = True,
    reset_count: int | None = None,
    error: str | None = None,
    retry_at: dt.datetime | None = None,
    completed_at: dt.datetime | None = None,
) -> TaskChange:
    return TaskChange(
        verdict=verdict,
        state=state.value,
        attempt=task.attempt if attempt is None else attempt,
        claimant_id=task.claimant_id if keep_claimant else claimant_id,
        reset_count=task.reset_count if reset_count is None else reset_count,
        error=error,
        retry_at=retry_at,
        completed_at=completed_at,
        data=data,
    )


def _failed(task: TaskSnapshot, outcome: OutcomeLike, rules: Rules) -> TaskChange:
    err = outcome.error or {}
    failure = Failure(
        str(err.get("exc_type") or err.get("kind", "error")),
        str(err.get("message", "")),
        bool(err.get("transient", False)),
    )
    decision = decide(rules.policy, outcome.attempt, failure, rules.rng)
    data = {
        "attempt": outcome.attempt,
        "error": err,
        "reason": decision.reason,
        **(outcome.captured or {}),
    }
    text = error_text(err)
    if decision.retry and not rules.cancelled:
        due = rules.now + dt.timedelta(milliseconds=decision.delay_ms)
        data |= {"retry_at": due.isoformat(), "delay_ms": decision.delay_ms}
        return _change(
            task,
            Verdict.RETRY,
            TaskState.READY,
            data,
            keep_claimant=False,
            error=text,
            retry_at=due,
        )
    return _change(task, Verdict.FAILED, TaskState.FAILED, data, error=text, completed_at=rules.now)


def _reset(task: TaskSnapshot, outcome: OutcomeLike, rules: Rules) -> TaskChange:
    resets = task.reset_count + 1
    data: dict[str, Any] = {
        "attempt": outcome.attempt,
        "claimant_id": task.claimant_id,
        "resets": resets,
    }
    if resets > rules.max_resets or rules.cancelled:
        text = f"abandoned after {resets - 1} resets (claimant died)"
        return _change(
            task,
            Verdict.ABANDONED,
            TaskState.FAILED,
            data | {"error": text},
            reset_count=resets,
            error=text,
            completed_at=rules.now,
        )
    return _change(
        task,
        Verdict.RESET,
        TaskState.READY,
        data,
        attempt=task.attempt - 1,
        keep_claimant=False,
        reset_count=resets,
        error=task.error,  # a reset keeps the last attempt's error
    )

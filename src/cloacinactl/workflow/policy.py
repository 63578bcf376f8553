"""A task's retry policy: how often and how late a failed task is tried again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cloacinactl.workflow.states import ModelError


class Backoff(StrEnum):
    FIXED = "fixed"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class RetryOn(StrEnum):
    NEVER = "never"
    TRANSIENT = "transient"
    ALL = "all"
    PATTERN = "pattern"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a failed task is tried again.

    ``max_attempts`` counts every attempt, the first included. The default is
    design §8's: 3 attempts, exponential from 1 s capped at 60 s, ±25 % jitter,
    every error retried.
    """

    max_attempts: int = 3
    initial_delay_ms: int = 1000
    max_delay_ms: int = 60_000
    backoff: Backoff = Backoff.EXPONENTIAL
    base: float = 2.0
    multiplier: float = 1.0
    retry_on: RetryOn = RetryOn.ALL
    patterns: tuple[str, ...] = ()
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ModelError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay_ms < 0 or self.max_delay_ms < 0:
            raise ModelError("retry delays must not be negative")
        if self.retry_on is RetryOn.PATTERN and not self.patterns:
            raise ModelError("a pattern retry condition needs at least one pattern")

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "initial_delay_ms": self.initial_delay_ms,
            "max_delay_ms": self.max_delay_ms,
            "backoff": self.backoff.value,
            "base": self.base,
            "multiplier": self.multiplier,
            "retry_on": self.retry_on.value,
            "patterns": list(self.patterns),
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetryPolicy:
        return cls(
            max_attempts=int(data["max_attempts"]),
            initial_delay_ms=int(data["initial_delay_ms"]),
            max_delay_ms=int(data["max_delay_ms"]),
            backoff=Backoff(data["backoff"]),
            base=float(data.get("base", 2.0)),
            multiplier=float(data.get("multiplier", 1.0)),
            retry_on=RetryOn(data["retry_on"]),
            patterns=tuple(data.get("patterns", ())),
            jitter=bool(data["jitter"]),
        )

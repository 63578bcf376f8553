"""Upstream-shaped retry classes: RetryPolicy, its builder, BackoffStrategy, RetryCondition."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.workflow import model
from cloacinactl.workflow import retry as maths


class BackoffStrategy:
    """How delays grow: ``BackoffStrategy.fixed()``, ``.linear(multiplier=1.0)``,
    ``.exponential(base=2.0, multiplier=None)``."""

    __slots__ = ("base", "kind", "multiplier")

    def __init__(self, kind: model.Backoff, base: float = 2.0, multiplier: float = 1.0) -> None:
        self.kind = kind
        self.base = base
        self.multiplier = multiplier

    @classmethod
    def fixed(cls) -> BackoffStrategy:
        return cls(model.Backoff.FIXED)

    @classmethod
    def linear(cls, multiplier: float = 1.0) -> BackoffStrategy:
        return cls(model.Backoff.LINEAR, multiplier=float(multiplier))

    @classmethod
    def exponential(cls, base: float = 2.0, multiplier: float | None = None) -> BackoffStrategy:
        return cls(model.Backoff.EXPONENTIAL, base=float(base), multiplier=float(multiplier or 1.0))

    @classmethod
    def parse(cls, value: Any) -> BackoffStrategy:
        if isinstance(value, BackoffStrategy):
            return value
        if isinstance(value, str):
            try:
                kind = model.Backoff(value.lower())
            except ValueError:
                raise CloacaError(
                    f"unknown retry backoff {value!r}; use 'fixed', 'linear' or 'exponential'"
                ) from None
            return cls(kind)
        raise CloacaError(f"retry backoff must be a string or BackoffStrategy, got {value!r}")

    def __repr__(self) -> str:
        if self.kind is model.Backoff.FIXED:
            return "BackoffStrategy.Fixed"
        if self.kind is model.Backoff.LINEAR:
            return f"BackoffStrategy.Linear(multiplier={self.multiplier})"
        return f"BackoffStrategy.Exponential(base={self.base}, multiplier={self.multiplier})"


class RetryCondition:
    """Which errors are retried: ``RetryCondition.never()``, ``.transient_only()``,
    ``.all_errors()``, ``.error_pattern([...])``."""

    __slots__ = ("kind", "patterns")

    def __init__(self, kind: model.RetryOn, patterns: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.patterns = patterns

    @classmethod
    def never(cls) -> RetryCondition:
        return cls(model.RetryOn.NEVER)

    @classmethod
    def transient_only(cls) -> RetryCondition:
        return cls(model.RetryOn.TRANSIENT)

    @classmethod
    def all_errors(cls) -> RetryCondition:
        return cls(model.RetryOn.ALL)

    @classmethod
    def error_pattern(cls, patterns: list[str]) -> RetryCondition:
        pats = tuple(str(p) for p in patterns)
        if not pats:
            raise CloacaError("RetryCondition.error_pattern needs at least one pattern")
        return cls(model.RetryOn.PATTERN, pats)

    @classmethod
    def parse(cls, value: Any) -> RetryCondition:
        if isinstance(value, RetryCondition):
            return value
        names = {"never": cls.never, "transient": cls.transient_only, "all": cls.all_errors}
        if isinstance(value, str) and value.lower() in names:
            return names[value.lower()]()
        raise CloacaError(
            f"unknown retry condition {value!r}; use 'never', 'transient' or 'all' "
            "(or a RetryCondition)"
        )

    def __repr__(self) -> str:
        names = {
            model.RetryOn.NEVER: "Never",
            model.RetryOn.TRANSIENT: "TransientOnly",
            model.RetryOn.ALL: "AllErrors",
        }
        if self.kind is model.RetryOn.PATTERN:
            return f"RetryCondition.ErrorPattern(patterns={list(self.patterns)!r})"
        return f"RetryCondition.{names[self.kind]}"


def _delay_ms(seconds: float, what: str) -> int:
    if seconds < 0:
        raise CloacaError(f"{what} must not be negative, got {seconds}")
    return round(float(seconds) * 1000)


class RetryPolicyBuilder:
    """Chainable builder; each method returns a new builder (upstream semantics)."""

    __slots__ = ("_policy",)

    def __init__(self, policy: model.RetryPolicy | None = None) -> None:
        self._policy = policy or model.RetryPolicy()

    def _with(self, **changes: Any) -> RetryPolicyBuilder:
        try:
            return RetryPolicyBuilder(replace(self._policy, **changes))
        except model.ModelError as exc:
            raise CloacaError(str(exc)) from None

    def max_attempts(self, attempts: int) -> RetryPolicyBuilder:
        """Total attempts, the first included (at least 1)."""
        return self._with(max_attempts=int(attempts))

    def initial_delay(self, delay_seconds: float) -> RetryPolicyBuilder:
        return self._with(initial_delay_ms=_delay_ms(delay_seconds, "initial_delay"))

    def max_delay(self, delay_seconds: float) -> RetryPolicyBuilder:
        return self._with(max_delay_ms=_delay_ms(delay_seconds, "max_delay"))

    def backoff_strategy(self, strategy: BackoffStrategy | str) -> RetryPolicyBuilder:
        s = BackoffStrategy.parse(strategy)
        return self._with(backoff=s.kind, base=s.base, multiplier=s.multiplier)

    def retry_condition(self, condition: RetryCondition | str) -> RetryPolicyBuilder:
        c = RetryCondition.parse(condition)
        return self._with(retry_on=c.kind, patterns=c.patterns)

    def with_jitter(self, jitter: bool = True) -> RetryPolicyBuilder:
        return self._with(jitter=bool(jitter))

    def build(self) -> RetryPolicy:
        return RetryPolicy(self._policy)


class RetryPolicy:
    """A task's retry policy. ``RetryPolicy.default()``, ``RetryPolicy.builder()...build()``."""

    __slots__ = ("policy",)

    def __init__(self, policy: model.RetryPolicy | None = None) -> None:
        self.policy = policy or model.RetryPolicy()

    @staticmethod
    def builder() -> RetryPolicyBuilder:
        return RetryPolicyBuilder()

    @classmethod
    def default(cls) -> RetryPolicy:
        """3 attempts, exponential backoff from 1 s capped at 60 s, ±25 % jitter, all errors."""
        return cls()

    def max_attempts(self) -> int:
        return self.policy.max_attempts

    def initial_delay(self) -> float:
        """Seconds."""
        return self.policy.initial_delay_ms / 1000

    def max_delay(self) -> float:
        """Seconds."""
        return self.policy.max_delay_ms / 1000

    def with_jitter(self) -> bool:
        return self.policy.jitter

    def should_retry(self, attempt: int, error_type: str = "", *, transient: bool = False) -> bool:
        """Whether attempt ``attempt`` (1-based) failing with ``error_type`` is retried."""
        failure = maths.Failure(error_type, "", transient)
        return maths.decide(self.policy, attempt, failure).retry

    def calculate_delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt ``attempt`` failed (jitter included when enabled)."""
        return maths.delay_ms(self.policy, attempt, rng) / 1000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RetryPolicy) and other.policy == self.policy

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"RetryPolicy(max_attempts={self.max_attempts()}, "
            f"initial_delay={self.initial_delay()}s, max_delay={self.max_delay()}s, "
            f"jitter={self.with_jitter()})"
        )

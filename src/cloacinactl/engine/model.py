"""The workflow model shared by the authoring API, the workers and the supervisor.

Everything here is a frozen dataclass that round-trips through JSON with
``to_dict()`` / ``from_dict()``: the supervisor never imports user code, so a
worker loads a package, builds these definitions and sends their dicts back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Any


class ModelError(ValueError):
    """A definition is malformed (raised at import time of a workflow package)."""


class TaskState(StrEnum):
    """Lifecycle of one task of an execution (design §9)."""

    NOT_STARTED = "NotStarted"
    READY = "Ready"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_TASK


_TERMINAL_TASK = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.SKIPPED})


class ExecutionStatus(StrEnum):
    """Lifecycle of one execution (design §9). Paused is active, not terminal: it is
    entered from Pending or Running and left by resume (or cancel)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    PAUSED = "Paused"

    @property
    def is_terminal(self) -> bool:
        return self in (
            ExecutionStatus.COMPLETED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
        )


# --------------------------------------------------------------------------- retry


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


# --------------------------------------------------------------------- trigger rules


class Op(StrEnum):
    """Operators of a context_value condition."""

    EQUALS = "Equals"
    NOT_EQUALS = "NotEquals"
    GREATER_THAN = "GreaterThan"
    LESS_THAN = "LessThan"
    CONTAINS = "Contains"
    NOT_CONTAINS = "NotContains"
    EXISTS = "Exists"
    NOT_EXISTS = "NotExists"

    @classmethod
    def parse(cls, text: str) -> Op:
        """Accept the canonical names, snake/lower case spellings and ``== != > < eq ne gt lt``."""
        found = _OP_ALIASES.get(text.replace("_", "").lower())
        if found is None:
            names = ", ".join(o.value for o in cls)
            raise ModelError(
                f"unknown context_value operator {text!r}; use one of {names} "
                "or == != > < eq ne gt lt"
            )
        return found


_OP_ALIASES: dict[str, Op] = {o.value.lower(): o for o in Op} | {
    "==": Op.EQUALS,
    "eq": Op.EQUALS,
    "!=": Op.NOT_EQUALS,
    "ne": Op.NOT_EQUALS,
    ">": Op.GREATER_THAN,
    "gt": Op.GREATER_THAN,
    "<": Op.LESS_THAN,
    "lt": Op.LESS_THAN,
}


class ConditionKind(StrEnum):
    TASK_SUCCESS = "task_success"
    TASK_FAILED = "task_failed"
    TASK_SKIPPED = "task_skipped"
    CONTEXT_VALUE = "context_value"


@dataclass(frozen=True)
class Condition:
    """One leaf of a trigger rule: a task outcome or a context value test."""

    kind: ConditionKind
    task: str | None = None
    key: str | None = None
    op: Op | None = None
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind is ConditionKind.CONTEXT_VALUE:
            assert self.op is not None
            return {
                "kind": self.kind.value,
                "key": self.key,
                "op": self.op.value,
                "value": self.value,
            }
        return {"kind": self.kind.value, "task": self.task}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        kind = ConditionKind(data["kind"])
        if kind is ConditionKind.CONTEXT_VALUE:
            return cls(kind, key=str(data["key"]), op=Op(data["op"]), value=data.get("value"))
        return cls(kind, task=str(data["task"]))


class RuleKind(StrEnum):
    ALWAYS = "always"
    ALL = "all"
    ANY = "any"
    NONE = "none"


@dataclass(frozen=True)
class TriggerRule:
    """A combinator over conditions. Rules do not nest (upstream's shape)."""

    kind: RuleKind = RuleKind.ALWAYS
    conditions: tuple[Condition, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "conditions": [c.to_dict() for c in self.conditions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriggerRule:
        return cls(
            RuleKind(data["kind"]),
            tuple(Condition.from_dict(c) for c in data.get("conditions", ())),
        )

    def referenced_tasks(self) -> tuple[str, ...]:
        return tuple(c.task for c in self.conditions if c.task is not None)


# ------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class TaskDef:
    """One task as the engine sees it; ``module``/``qualname`` find the callable again."""

    id: str
    module: str
    qualname: str
    dependencies: tuple[str, ...] = ()
    is_async: bool = False
    wants_handle: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    trigger_rule: TriggerRule | None = None
    timeout_s: float | None = None
    description: str | None = None
    has_on_success: bool = False
    has_on_failure: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "module": self.module,
            "qualname": self.qualname,
            "dependencies": list(self.dependencies),
            "is_async": self.is_async,
            "wants_handle": self.wants_handle,
            "retry": self.retry.to_dict(),
            "trigger_rule": None if self.trigger_rule is None else self.trigger_rule.to_dict(),
            "timeout_s": self.timeout_s,
            "description": self.description,
            "has_on_success": self.has_on_success,
            "has_on_failure": self.has_on_failure,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskDef:
        rule = data.get("trigger_rule")
        timeout = data.get("timeout_s")
        return cls(
            id=str(data["id"]),
            module=str(data["module"]),
            qualname=str(data["qualname"]),
            dependencies=tuple(data.get("dependencies", ())),
            is_async=bool(data.get("is_async", False)),
            wants_handle=bool(data.get("wants_handle", False)),
            retry=RetryPolicy.from_dict(data["retry"]) if "retry" in data else RetryPolicy(),
            trigger_rule=None if rule is None else TriggerRule.from_dict(rule),
            timeout_s=None if timeout is None else float(timeout),
            description=data.get("description"),
            has_on_success=bool(data.get("has_on_success", False)),
            has_on_failure=bool(data.get("has_on_failure", False)),
        )

    def graph_dict(self) -> dict[str, Any]:
        """What enters the workflow version: everything but prose."""
        d = self.to_dict()
        d.pop("description")
        return d


# ---------------------------------------------------------------------- params


PARAM_TYPES = ("str", "int", "float", "bool", "list", "dict", "any")


@dataclass(frozen=True)
class ParamSlot:
    """A declared, typed workflow input (``cloaca.workflow_params``)."""

    name: str
    type: str = "any"
    required: bool = True
    default: Any = None

    def __post_init__(self) -> None:
        if self.type not in PARAM_TYPES:
            raise ModelError(f"param {self.name!r}: unknown type {self.type!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamSlot:
        return cls(
            name=str(data["name"]),
            type=str(data.get("type", "any")),
            required=bool(data.get("required", True)),
            default=data.get("default"),
        )


# -------------------------------------------------------------------- workflows


@dataclass(frozen=True)
class WorkflowDef:
    """A validated DAG of tasks; ``tasks`` are in topological order.

    Build it through :func:`cloacinactl.engine.dag.build_workflow` (which
    validates and orders); ``from_dict`` trusts its input's order.
    """

    name: str
    tasks: tuple[TaskDef, ...]
    params: tuple[ParamSlot, ...] = ()
    description: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    content_hash: str = ""
    secrets: tuple[str, ...] = ()  # declared secret slots (``cloaca.workflow_secrets``)

    @cached_property
    def by_id(self) -> Mapping[str, TaskDef]:
        return {t.id: t for t in self.tasks}

    @cached_property
    def position(self) -> Mapping[str, int]:
        """Index of each task in topological order."""
        return {t.id: i for i, t in enumerate(self.tasks)}

    @cached_property
    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {t.id: [] for t in self.tasks}
        for t in self.tasks:
            for dep in t.dependencies:
                out[dep].append(t.id)
        return {k: tuple(v) for k, v in out.items()}

    @property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks if not t.dependencies)

    def task(self, task_id: str) -> TaskDef:
        try:
            return self.by_id[task_id]
        except KeyError:
            raise ModelError(f"workflow {self.name!r} has no task {task_id!r}") from None

    @cached_property
    def graph_hash(self) -> str:
        """Stable hash of the task graph (ids, deps, code refs, policies, rules)."""
        doc = {
            "name": self.name,
            "tasks": sorted((t.graph_dict() for t in self.tasks), key=lambda d: d["id"]),
            "params": [p.to_dict() for p in self.params],
        }
        if self.secrets:  # only when declared: existing workflows keep their versions
            doc["secrets"] = list(self.secrets)
        blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    @cached_property
    def version(self) -> str:
        """Graph hash mixed with the package content hash; 16 hex digits."""
        mixed = f"{self.graph_hash}:{self.content_hash}".encode()
        return hashlib.sha256(mixed).hexdigest()[:16]

    def with_content_hash(self, content_hash: str) -> WorkflowDef:
        return replace(self, content_hash=content_hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "tasks": [t.to_dict() for t in self.tasks],
            "params": [p.to_dict() for p in self.params],
            "secrets": list(self.secrets),
            "description": self.description,
            "tags": {k: v for k, v in self.tags},
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowDef:
        return cls(
            name=str(data["name"]),
            tasks=tuple(TaskDef.from_dict(t) for t in data["tasks"]),
            params=tuple(ParamSlot.from_dict(p) for p in data.get("params", ())),
            description=data.get("description"),
            tags=tuple(sorted((str(k), str(v)) for k, v in dict(data.get("tags", {})).items())),
            content_hash=str(data.get("content_hash", "")),
            secrets=tuple(str(s) for s in data.get("secrets", ())),
        )


# --------------------------------------------------------------------- triggers


class TriggerKind(StrEnum):
    CRON = "cron"
    POLL = "poll"


@dataclass(frozen=True)
class TriggerDef:
    """A cron schedule or a poll function that starts workflow ``workflow``."""

    name: str
    workflow: str
    kind: TriggerKind
    module: str
    qualname: str
    cron: str | None = None
    timezone: str = "UTC"
    poll_interval_ms: int = 30_000
    allow_concurrent: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workflow": self.workflow,
            "kind": self.kind.value,
            "module": self.module,
            "qualname": self.qualname,
            "cron": self.cron,
            "timezone": self.timezone,
            "poll_interval_ms": self.poll_interval_ms,
            "allow_concurrent": self.allow_concurrent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TriggerDef:
        return cls(
            name=str(data["name"]),
            workflow=str(data["workflow"]),
            kind=TriggerKind(data["kind"]),
            module=str(data["module"]),
            qualname=str(data["qualname"]),
            cron=data.get("cron"),
            timezone=str(data.get("timezone", "UTC")),
            poll_interval_ms=int(data.get("poll_interval_ms", 30_000)),
            allow_concurrent=bool(data.get("allow_concurrent", False)),
        )

    @property
    def seconds_field(self) -> bool:
        """True for a 6-field cron (seconds first): pass ``second_at_beginning``."""
        return self.cron is not None and len(self.cron.split()) == 6

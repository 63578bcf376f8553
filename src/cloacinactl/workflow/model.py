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

from cloacinactl.workflow.conditions import (
    Condition,
    ConditionKind,
    Op,
    RuleKind,
    TriggerRule,
)
from cloacinactl.workflow.policy import Backoff, RetryOn, RetryPolicy
from cloacinactl.workflow.states import (
    ACTIVE_STATUSES,
    ExecutionStatus,
    ModelError,
    TaskState,
)

__all__ = [
    "ACTIVE_STATUSES",
    "PARAM_TYPES",
    "Backoff",
    "Condition",
    "ConditionKind",
    "ExecutionStatus",
    "ModelError",
    "Op",
    "ParamSlot",
    "RetryOn",
    "RetryPolicy",
    "RuleKind",
    "TaskDef",
    "TaskState",
    "TriggerDef",
    "TriggerKind",
    "TriggerRule",
    "WorkflowDef",
]


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

    Build it through :func:`cloacinactl.workflow.dag.build_workflow` (which
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
    def ordered_dependencies(self) -> Mapping[str, tuple[str, ...]]:
        """Each task's dependencies, once each, in topological order (merge order)."""
        position = self.position
        return {
            t.id: tuple(sorted(set(t.dependencies), key=position.__getitem__)) for t in self.tasks
        }

    @cached_property
    def dependents(self) -> Mapping[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {t.id: [] for t in self.tasks}
        for t in self.tasks:
            for dep in t.dependencies:
                out[dep].append(t.id)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def task_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    @cached_property
    def roots(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tasks if not t.dependencies)

    @cached_property
    def roots_unconditional(self) -> bool:
        """Whether no root task has a trigger rule (a new execution's first step then
        depends on nothing but its input)."""
        return not any(self.by_id[r].trigger_rule is not None for r in self.roots)

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

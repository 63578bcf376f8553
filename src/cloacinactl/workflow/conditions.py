"""Trigger rules: the conditions that gate a task on its input and its dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cloacinactl.workflow.states import ModelError


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

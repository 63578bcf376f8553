"""Checking a run's input against a workflow's declared params and secret slots (pure).

A workflow declares typed params (``cloaca.workflow_params``) and secret slots
(``cloaca.workflow_secrets``). Before anything runs, the input context is
checked: every required param present, every given param of its declared
type, optional ones filled with their defaults, and every secret slot bound
to a stored secret by name (``{"<slot>": {"$secret": "<secret name>"}}``), never
given a literal value. An unbound slot is bound to the secret of its own name.

Problems name the parameter or slot and the expected shape, never the value
given (it may be a credential pasted into the wrong place).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

SECRET_REF = "$secret"
SECRET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


class Slot(Protocol):
    """A declared param, as :class:`cloacinactl.workflow.model.ParamSlot` has it."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def default(self) -> Any: ...


@dataclass(frozen=True)
class InputCheck:
    """The outcome of :func:`check_input`: the filled context or the problems."""

    context: dict[str, Any]
    bindings: dict[str, str] = field(default_factory=dict)  # secret slot -> secret name
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def message(self, workflow: str) -> str:
        """One line for a person: every problem, in declaration order."""
        return f"workflow {workflow!r} input is invalid: " + "; ".join(self.problems)


def json_type(value: Any) -> str:
    """The declaration-style type name of a JSON value (``null`` for None)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def type_matches(declared: str, value: Any) -> bool:
    """Whether ``value`` is of the declared param type (an int is a float; a bool is not
    an int)."""
    if declared == "any":
        return True
    actual = json_type(value)
    return actual == declared or (declared == "float" and actual == "int")


def is_secret_ref(value: Any) -> bool:
    """True for anything that tries to be a ``{"$secret": ...}`` binding."""
    return isinstance(value, Mapping) and SECRET_REF in value


def secret_ref(value: Any) -> str | None:
    """The secret name of a well-formed binding ``{"$secret": "<name>"}``, else None."""
    if not is_secret_ref(value) or len(value) != 1:
        return None
    name = value[SECRET_REF]
    if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
        return None
    return name


def valid_secret_name(name: object) -> bool:
    return isinstance(name, str) and SECRET_NAME.fullmatch(name) is not None


def bindings_of(slots: Iterable[str], context: Mapping[str, Any]) -> dict[str, str]:
    """Slot -> secret name for a context :func:`check_input` accepted (an unbound slot
    is bound to its own name)."""
    out: dict[str, str] = {}
    for slot in slots:
        out[slot] = secret_ref(context.get(slot)) or slot
    return out


def _check_param(slot: Slot, context: Mapping[str, Any], filled: dict[str, Any]) -> str | None:
    name = slot.name
    if name not in context:
        if slot.required:
            return f"missing required param {name!r} ({slot.type})"
        filled[name] = copy.deepcopy(slot.default)
        return None
    value = context[name]
    if is_secret_ref(value):
        return (
            f"param {name!r} is not a secret slot and cannot take a {{{SECRET_REF!r}: ...}} binding"
        )
    if not type_matches(slot.type, value):
        return f"param {name!r} must be {slot.type}, got {json_type(value)}"
    return None


def _check_slot(slot: str, context: Mapping[str, Any], filled: dict[str, Any]) -> str | None:
    if slot not in context:
        if not valid_secret_name(slot):
            return f"secret slot {slot!r} is not bound (bind it with {{{SECRET_REF!r}: name}})"
        filled[slot] = {SECRET_REF: slot}
        return None
    value = context[slot]
    if not is_secret_ref(value):
        return (
            f'secret slot {slot!r} takes a binding {{{SECRET_REF!r}: "<secret name>"}}, '
            f"not a literal value"
        )
    if secret_ref(value) is None:
        return (
            f"secret slot {slot!r}: the binding must be exactly "
            f'{{{SECRET_REF!r}: "<secret name>"}} with a name of letters, digits, _ . -'
        )
    return None


def check_input(
    params: Iterable[Slot], secrets: Iterable[str], context: Mapping[str, Any]
) -> InputCheck:
    """Check ``context`` against the declared ``params`` and secret slots.

    Returns the context with defaults and default bindings filled in and the
    slot -> secret name bindings, or every problem found (``ok`` is False).
    Keys the workflow does not declare pass through unchecked, except that a
    secret binding is only accepted for a declared slot.
    """
    filled = dict(context)
    problems: list[str] = []
    slots = list(secrets)
    declared = set(slots)
    for slot in params:
        declared.add(slot.name)
        problem = _check_param(slot, context, filled)
        if problem is not None:
            problems.append(problem)
    for slot_name in slots:
        problem = _check_slot(slot_name, context, filled)
        if problem is not None:
            problems.append(problem)
    for key, value in context.items():
        if key not in declared and is_secret_ref(value):
            problems.append(
                f"{key!r} binds a secret but the workflow declares no secret slot {key!r}"
            )
    if problems:
        return InputCheck(dict(context), problems=tuple(problems))
    return InputCheck(filled, bindings_of(slots, filled))

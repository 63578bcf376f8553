"""The task ``Context``: a dict of JSON values with upstream cloaca's method names."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any


class ContextError(ValueError):
    """A context operation was invalid (non-JSON value, insert over an existing key)."""


def to_json_value(value: Any, where: str = "value") -> Any:
    """Return a plain copy of ``value`` (tuples become lists), or raise ContextError
    naming the path of the first part that is not JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ContextError(f"{where} is {value!r}, which JSON cannot represent")
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ContextError(
                    f"{where} has key {k!r} of type {type(k).__name__}; "
                    "JSON object keys are strings"
                )
            out[k] = to_json_value(v, f"{where}[{k!r}]")
        return out
    raise ContextError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, not a JSON value "
        "(use dict, list, str, int, float, bool or None)"
    )


def with_secrets(context: Context, secrets: Mapping[str, Mapping[str, str]]) -> Context:
    """Give ``context`` the secret values of its task (slot -> {field: value})."""
    context._secrets = {slot: dict(fields) for slot, fields in secrets.items()}
    return context


class Context:
    """Data passed between tasks; every value must be JSON.

    ``Context()`` / ``Context({"a": 1})``; ``get(key, default=None)``, ``set``,
    ``insert`` (error if present), ``update`` (error if absent), ``remove``,
    ``to_dict``, ``update_from_dict``, ``to_json``, ``Context.from_json``,
    ``len(ctx)``, ``key in ctx``, ``ctx[key]``, ``ctx[key] = v``, ``del ctx[key]``.

    Inside a task, ``secret(slot)`` / ``secret_field(slot, field)`` read the
    workflow's secret slots. Secret values live beside the data, never in it:
    ``to_dict``, ``to_json``, ``repr`` and a returned context do not carry them.
    """

    __slots__ = ("_data", "_secrets")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = {}
        self._secrets: Mapping[str, Mapping[str, str]] = {}
        if data is not None:
            if isinstance(data, Context):
                data = data._data
            if not isinstance(data, Mapping):
                raise ContextError(f"Context() takes a dict, got {type(data).__name__}")
            self.update_from_dict(data)

    # -- reading
    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def keys(self) -> list[str]:
        return list(self._data)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())

    # -- secrets
    def secret(self, name: str) -> dict[str, str]:
        """The fields of the secret bound to slot ``name`` (a copy)."""
        fields = self._secrets.get(name)
        if fields is None:
            declared = ", ".join(sorted(self._secrets)) or "none"
            raise ContextError(
                f"no secret slot {name!r} is available to this task (slots: {declared}); "
                "declare it with cloaca.workflow_secrets and bind it when starting the run"
            )
        return dict(fields)

    def secret_field(self, name: str, field: str) -> str:
        """One field of the secret bound to slot ``name``."""
        fields = self.secret(name)
        if field not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ContextError(f"secret slot {name!r} has no field {field!r} (fields: {known})")
        return fields[field]

    # -- writing
    def set(self, key: str, value: Any) -> None:
        """Insert or replace ``key``."""
        self._check_key(key)
        self._data[key] = to_json_value(value, f"context value {key!r}")

    __setitem__ = set

    def insert(self, key: str, value: Any) -> None:
        """Add ``key``; error if it is already present."""
        if key in self._data:
            raise ContextError(f"context key {key!r} already exists (use set or update)")
        self.set(key, value)

    def update(self, key: str, value: Any) -> None:
        """Replace ``key``; KeyError if it is absent."""
        if key not in self._data:
            raise KeyError(f"context key {key!r} does not exist (use set or insert)")
        self.set(key, value)

    def remove(self, key: str) -> Any:
        """Remove ``key`` and return its value (None if it was absent)."""
        return self._data.pop(key, None)

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def update_from_dict(self, data: Mapping[str, Any]) -> None:
        """Set every key of ``data`` (all validated before any is applied)."""
        staged = {}
        for k, v in data.items():
            self._check_key(k)
            staged[k] = to_json_value(v, f"context value {k!r}")
        self._data.update(staged)

    # -- conversion
    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def to_json(self) -> str:
        return json.dumps(self._data)

    @classmethod
    def from_json(cls, text: str) -> Context:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ContextError("Context.from_json needs a JSON object")
        return cls(data)

    def copy(self) -> Context:
        """A deep copy of the data; the copy reads the same secrets."""
        twin = Context(json.loads(self.to_json()))
        twin._secrets = self._secrets
        return twin

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Context):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Context({self._data!r})"

    @staticmethod
    def _check_key(key: object) -> None:
        if not isinstance(key, str):
            raise ContextError(f"context keys are strings, got {type(key).__name__} {key!r}")

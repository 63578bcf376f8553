"""Keeping secret values out of what a task attempt reports (pure).

A task sees its secrets through ``context.secret``; what the attempt sends
back — the error message and traceback, captured stdout/stderr and log
records — has every secret value replaced by ``***`` before it leaves the
worker, and an output context that holds a secret value fails the attempt
(the output is stored). Values shorter than :data:`MIN_LENGTH` characters are
not searched for: masking every "a" would garble the text and protect nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MASK = "***"
MIN_LENGTH = 4


@dataclass(frozen=True)
class Redactor:
    """Masks the values of one attempt's secrets (longest first, so a value that
    contains another is masked whole)."""

    values: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (value, slot)

    @classmethod
    def of(cls, secrets: Mapping[str, Mapping[str, str]] | None) -> Redactor:
        pairs = {
            value: slot
            for slot, fields in (secrets or {}).items()
            for value in fields.values()
            if isinstance(value, str) and len(value) >= MIN_LENGTH
        }
        return cls(tuple(sorted(pairs.items(), key=lambda p: -len(p[0]))))

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value, _slot in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def deep(self, obj: Any) -> Any:
        """``obj`` with every string (keys too) masked; other values unchanged."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.deep(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.deep(v) for v in obj)
        if isinstance(obj, Mapping):
            return {self.deep(k): self.deep(v) for k, v in obj.items()}
        return obj

    def leaked_slot(self, obj: Any) -> str | None:
        """The slot whose value appears in a string (or key) of ``obj``, if any."""
        if isinstance(obj, str):
            for value, slot in self.values:
                if value in obj:
                    return slot
            return None
        if isinstance(obj, (list, tuple)):
            items: Any = obj
        elif isinstance(obj, Mapping):
            items = [*obj.keys(), *obj.values()]
        else:
            return None
        for item in items:
            found = self.leaked_slot(item)
            if found is not None:
                return found
        return None

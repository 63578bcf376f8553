"""What a secret's name and ``{field: value}`` map may look like (pure).

Problems name fields and sizes, never a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloacinactl.workflow.params import valid_secret_name

MAX_FIELDS = 64
MAX_FIELD_NAME = 128
MAX_VALUE_BYTES = 64 * 1024
NAME_RULE = "a secret name is 1-128 letters, digits, _ . - (starting with a letter or digit)"


def name_problem(name: Any) -> str | None:
    return None if valid_secret_name(name) else NAME_RULE


def fields_problem(fields: Any) -> str | None:
    """Why ``fields`` is not a usable ``{field: value}`` map of strings, or None."""
    if not isinstance(fields, Mapping) or not fields:
        return 'a secret needs at least one field: {"field": "value"}'
    if len(fields) > MAX_FIELDS:
        return f"a secret has at most {MAX_FIELDS} fields, got {len(fields)}"
    for name, value in fields.items():
        if not isinstance(name, str) or not name or len(name) > MAX_FIELD_NAME or "\x00" in name:
            return f"field names are 1-{MAX_FIELD_NAME} characters without NUL, got {name!r:.40}"
        if not isinstance(value, str):
            return f"field {name!r}: values are strings, got {type(value).__name__}"
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            return f"field {name!r}: a value is at most {MAX_VALUE_BYTES} bytes"
    return None

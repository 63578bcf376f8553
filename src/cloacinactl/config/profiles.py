"""Pure edits for ``[profiles.<name>]`` tables (used by ``config profile …``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from cloacinactl.config.edit import parse_document, unset_value
from cloacinactl.config.schema import PROFILES
from cloacinactl.errors import UserError

NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def check_profile_name(name: str) -> str:
    """Profile names are bare TOML keys: letters, digits, ``-`` and ``_``."""
    if not NAME.match(name):
        raise UserError(
            f"invalid profile name '{name}'", hint="use letters, digits, '-' and '_' only"
        )
    return name


def profile_values(
    name: str, server: str, api_key: str, *, make_default: bool = False
) -> list[tuple[Sequence[str], Any]]:
    """The key paths ``config profile set`` writes."""
    values: list[tuple[Sequence[str], Any]] = [
        ([PROFILES, name, "server"], server),
        ([PROFILES, name, "api_key"], api_key),
    ]
    if make_default:
        values.append((["default_profile"], name))
    return values


def delete_profile(text: str | None, name: str) -> str:
    """Remove ``[profiles.<name>]`` and a ``default_profile`` that pointed at it."""
    new, _ = unset_value(text, [PROFILES, name])
    doc = parse_document(new)
    if doc.get("default_profile") == name:
        new, _ = unset_value(new, ["default_profile"])
    return new

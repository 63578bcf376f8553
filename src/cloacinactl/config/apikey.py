"""API key schemes: raw, ``env:VAR``, ``file:PATH``; ``keyring:NAME`` is reserved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cloacinactl.errors import UserError


def resolve_api_key(value: str, *, environ: Mapping[str, str] | None = None) -> str:
    """Decode an API key given by scheme; every failure is exit 1 naming its source."""
    env = os.environ if environ is None else environ
    if value.startswith("env:"):
        name = value[4:]
        if not name:
            raise UserError("API key 'env:' names no variable", hint="use env:VARIABLE_NAME")
        key = env.get(name, "")
        if not key.strip():
            state = "empty" if name in env else "not set"
            raise UserError(
                f"API key variable {name} is {state}",
                hint=f"export {name}=<key> or pass --api-key",
            )
        return key.strip()
    if value.startswith("file:"):
        raw = value[5:]
        if not raw:
            raise UserError("API key 'file:' names no file", hint="use file:/path/to/key")
        path = Path(os.path.expanduser(raw))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"API key file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read API key file {path}: {exc}") from None
        for line in text.splitlines():
            if line.strip():
                return line.strip()
        raise UserError(f"API key file {path} is empty")
    if value.startswith("keyring:"):
        raise UserError(
            f"API key scheme 'keyring:' ({value}) is reserved for v1.1 and not supported yet",
            hint="use a raw key, env:VAR or file:PATH",
        )
    if not value.strip():
        raise UserError("API key is empty")
    return value.strip()

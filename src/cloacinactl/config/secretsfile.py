"""A local secrets file for ``package run`` and the daemon: ``{name: {field: value}}``.

TOML (a file ending ``.toml``: a table per secret) or JSON (anything else). It
must be a regular file that only its owner can read or write (mode 0600 or
0400): a group- or world-readable file is refused before anything runs.
Errors name the file, secrets and fields, never a value.
"""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cloacinactl.errors import UserError
from cloacinactl.workflow.secretfields import fields_problem, name_problem

SECRETS_FILE_ENV = "CLOACINA_SECRETS_FILE"


def check_mode(path: Path) -> None:
    """Refuse anything but a regular file closed to group and others."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UserError(f"cannot read secrets file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"secrets file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UserError(
            f"secrets file {path} is open to other users (mode {mode:04o})",
            hint=f"make it private: chmod 600 {path}",
        )


def parse_secrets(text: str, *, toml: bool, where: str) -> dict[str, dict[str, str]]:
    """The ``{name: {field: value}}`` map in ``text``, validated."""
    try:
        data: Any = tomllib.loads(text) if toml else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        # both messages give a position only; the exception (holding the text) is dropped
        kind = "TOML" if toml else "JSON"
        raise UserError(f"secrets file {where} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"secrets file {where}: the top level maps secret names to field tables")
    out: dict[str, dict[str, str]] = {}
    for name, fields in data.items():
        problem = name_problem(name) or fields_problem(fields)
        if problem is not None:
            raise UserError(f"secrets file {where}: secret {str(name)[:130]!r}: {problem}")
        out[name] = {str(k): str(v) for k, v in fields.items()}
    return out


def read_secrets_file(path: Path) -> dict[str, dict[str, str]]:
    """Check the file's mode, then read and validate it."""
    check_mode(path)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read secrets file {path}: {exc}") from exc
    return parse_secrets(text, toml=path.suffix.lower() == ".toml", where=str(path))


def secrets_file_from(flag: str | None, environ: Mapping[str, str]) -> Path | None:
    """``--secrets-file`` or ``$CLOACINA_SECRETS_FILE`` (absolute), None when neither."""
    value = flag if flag else environ.get(SECRETS_FILE_ENV, "")
    return Path(value).expanduser().absolute() if value else None

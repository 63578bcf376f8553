"""``cloaca.var`` / ``cloaca.var_or``: workflow variables from ``CLOACINA_VAR_<NAME>``.

Read at call time (never at import), so a package picks up the environment of
the process that runs the task.
"""

from __future__ import annotations

import os

from cloacinactl.cloaca.errors import MissingVariableError

PREFIX = "CLOACINA_VAR_"


def _lookup(name: str) -> str | None:
    if not name:
        raise ValueError("variable name must not be empty")
    exact = os.environ.get(PREFIX + name)
    if exact is not None:
        return exact
    return os.environ.get(PREFIX + name.upper())


def var(name: str) -> str:
    """Value of ``CLOACINA_VAR_<name>`` (exact case, then upper case); error if unset."""
    value = _lookup(name)
    if value is None:
        raise MissingVariableError(name, PREFIX + name)
    return value


def var_or(name: str, default: str | None = None) -> str | None:
    """Value of ``CLOACINA_VAR_<name>``, or ``default`` when it is unset."""
    value = _lookup(name)
    return default if value is None else value

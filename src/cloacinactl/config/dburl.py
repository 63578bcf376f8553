"""Which database URL a command was given: the one precedence rule (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping


def pick_database_url(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """``--database-url``, else ``$DATABASE_URL``; None when neither is set.

    A blank flag or variable counts as unset. Commands with a further fallback
    (``admin``: config.toml's ``database_url``) apply it on None, so config.toml
    is only read when it is needed.
    """
    for candidate in (flag, environ.get("DATABASE_URL")):
        if candidate and candidate.strip():
            return candidate.strip()
    return None

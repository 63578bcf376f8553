"""Database URLs: parse what users type into what SQLAlchemy needs (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cloacinactl.errors import UserError

Backend = Literal["sqlite", "postgresql"]

TENANT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
URL_HINT = "use sqlite:///path/to/cloacina.db or postgresql://user@host:5432/dbname"


@dataclass(frozen=True)
class DatabaseUrl:
    """A validated database URL: its backend and the SQLAlchemy URL to connect with."""

    backend: Backend
    sqlalchemy_url: str
    original: str
    sqlite_path: Path | None = None

    @property
    def redacted(self) -> str:
        """The URL with any password masked, safe for logs and errors."""
        return redact(self.original)

    def for_tenant(self, tenant: str) -> DatabaseUrl:
        """SQLite: the database file of ``tenant`` beside the main one; PostgreSQL: unchanged."""
        check_tenant_name(tenant)
        if self.backend != "sqlite" or tenant == "public" or self.sqlite_path is None:
            return self
        path = tenant_sqlite_path(self.sqlite_path, tenant)
        return DatabaseUrl("sqlite", f"sqlite:///{path}", f"sqlite:///{path}", path)


def redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def check_tenant_name(tenant: str) -> str:
    if not TENANT_NAME.match(tenant):
        raise UserError(
            f"invalid tenant name {tenant!r}",
            hint="1-63 characters: a letter or _ then letters, digits or _",
        )
    return tenant


def tenant_sqlite_path(main: Path, tenant: str) -> Path:
    """``/x/cloacina.db`` → ``/x/cloacina.tenant-acme.db`` (a file per tenant, design §12)."""
    return main.with_name(f"{main.stem}.tenant-{tenant}{main.suffix or '.db'}")


def parse_database_url(url: str) -> DatabaseUrl:
    """Validate ``url``; a bad one is a UserError (exit 1) naming it."""
    raw = url.strip()
    scheme, sep, rest = raw.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise UserError(f"invalid database URL {redact(raw)!r}: no scheme", hint=URL_HINT)
    if scheme == "sqlite":
        if rest in ("", "/"):
            raise UserError(f"invalid database URL {raw!r}: no database path", hint=URL_HINT)
        if rest.startswith("/:memory:") or rest == "/:memory:":
            raise UserError(
                f"invalid database URL {raw!r}: in-memory SQLite is not durable", hint=URL_HINT
            )
        # sqlite:///relative.db → "relative.db"; sqlite:////abs.db → "/abs.db"
        if not rest.startswith("/"):
            raise UserError(f"invalid database URL {raw!r}: expected sqlite:///path", hint=URL_HINT)
        path_text = rest[1:].split("?", 1)[0]
        path = Path(path_text).expanduser().absolute()
        return DatabaseUrl("sqlite", f"sqlite:///{path}", raw, path)
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        if not rest or (rest.startswith("/") and len(rest) == 1):
            raise UserError(f"invalid database URL {redact(raw)!r}: no host", hint=URL_HINT)
        return DatabaseUrl("postgresql", f"postgresql+psycopg://{rest}", raw)
    raise UserError(
        f"invalid database URL {redact(raw)!r}: unsupported scheme {scheme!r}", hint=URL_HINT
    )

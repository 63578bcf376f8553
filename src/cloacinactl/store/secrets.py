"""Tenant secrets at rest: a data key per tenant wrapped by the KEK, values sealed with it.

Each tenant's store holds one random 256-bit data key, wrapped with AES-256-GCM
under the server's key-encryption key (``CLOACINA_SECRET_KEK``), and its
secrets, each a ``{field: value}`` map sealed with AES-256-GCM under the data
key with a fresh 96-bit nonce every time and the tenant and secret name as
associated data (a sealed value copied to another name or tenant does not
open). Only field names and timestamps are readable without the KEK; nothing
here logs, returns or raises with a value in it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cloacinactl.errors import CloacinaError, UserError
from cloacinactl.store import schema
from cloacinactl.workflow.secretfields import fields_problem, name_problem

KEK_ENV = "CLOACINA_SECRET_KEK"
NONCE_BYTES = 12


class SecretsError(CloacinaError):
    """A secret operation failed; ``code`` is the API's stable code for it."""

    code = "secrets_error"


class SecretNotFound(SecretsError):
    code = "secret_not_found"


class SecretExists(SecretsError):
    code = "secret_exists"


class SecretInvalid(SecretsError):
    code = "invalid_secret"


class SecretsLocked(SecretsError):
    """The data key or a value does not open with this KEK (wrong key or tampering)."""

    code = "secrets_locked"


def parse_kek(text: str, *, source: str = KEK_ENV) -> bytes:
    """The 32-byte key from 64 hex digits or base64 (standard or URL-safe, padding
    optional); anything else is a clear error that never shows the text."""
    value = text.strip()
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return bytes.fromhex(value)
    padded = value + "=" * (-len(value) % 4)
    for altchars in (None, b"-_"):  # standard, then URL-safe
        try:
            key = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise UserError(
        f"{source} is not a 32-byte key (it has {len(value)} characters)",
        hint="use 64 hex digits or 44 base64 characters, e.g. `openssl rand -base64 32`",
    )


def kek_from_env(environ: Mapping[str, str]) -> bytes | None:
    """The KEK from the environment, None when it is unset or empty."""
    text = environ.get(KEK_ENV, "")
    return parse_kek(text) if text.strip() else None


def check_fields(fields: Any) -> dict[str, str]:
    """A secret's ``{field: value}`` map, validated (names and sizes only in errors)."""
    problem = fields_problem(fields)
    if problem is not None:
        raise SecretInvalid(problem)
    return {str(k): str(v) for k, v in fields.items()}


def check_name(name: Any) -> str:
    problem = name_problem(name)
    if problem is not None:
        raise SecretInvalid(problem)
    return str(name)


@dataclass(frozen=True)
class SecretMeta:
    """What a read returns: never a value."""

    id: str
    name: str
    field_names: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "field_names": list(self.field_names),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _meta(row: Any) -> SecretMeta:
    return SecretMeta(
        str(row.id), str(row.name), tuple(row.field_names), row.created_at, row.updated_at
    )


_META = (
    schema.secrets.c.id,
    schema.secrets.c.name,
    schema.secrets.c.field_names,
    schema.secrets.c.created_at,
    schema.secrets.c.updated_at,
)


def list_secrets(conn: Connection) -> list[SecretMeta]:
    rows = conn.execute(select(*_META).order_by(schema.secrets.c.name))
    return [_meta(r) for r in rows]


def get_secret(conn: Connection, name: str) -> SecretMeta:
    row = conn.execute(select(*_META).where(schema.secrets.c.name == name)).first()
    if row is None:
        raise SecretNotFound(f"secret {name!r} not found")
    return _meta(row)


def secret_exists(conn: Connection, name: str) -> bool:
    found = conn.execute(select(schema.secrets.c.id).where(schema.secrets.c.name == name))
    return found.first() is not None


def delete_secret(conn: Connection, name: str) -> None:
    if conn.execute(delete(schema.secrets).where(schema.secrets.c.name == name)).rowcount == 0:
        raise SecretNotFound(f"secret {name!r} not found")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Vault:
    """Seals and opens one process's tenant secrets with its KEK."""

    kek: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.kek) != 32:
            raise ValueError("the KEK is 32 bytes")

    @property
    def kek_id(self) -> str:
        """A fingerprint naming the KEK (not enough to recover it)."""
        return hashlib.sha256(b"cloacina-kek-id:" + self.kek).hexdigest()[:16]

    # -- the data key ------------------------------------------------------------
    def _data_key(self, conn: Connection, tenant: str, *, create: bool) -> bytes | None:
        table = schema.secret_keys
        row = conn.execute(select(table.c.wrapped_key, table.c.kek_id)).first()
        if row is None:
            if not create:
                return None
            wrapped = _seal(self.kek, os.urandom(32), _dek_aad(tenant))
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            values = {
                "id": 1,
                "wrapped_key": wrapped,
                "kek_id": self.kek_id,
                "created_at": _utcnow(),
            }
            # two servers creating the first secret at once: one key wins, both use it
            conn.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())
            row = conn.execute(select(table.c.wrapped_key, table.c.kek_id)).one()
        try:
            return _open(self.kek, bytes(row.wrapped_key), _dek_aad(tenant))
        except InvalidTag:
            raise SecretsLocked(
                f"tenant {tenant!r}'s secrets were sealed with another key-encryption key"
                f" (kek id {row.kek_id}, this server's is {self.kek_id})"
            ) from None

    # -- values ---------------------------------------------------------------------
    def create(self, conn: Connection, tenant: str, name: str, fields: Any) -> SecretMeta:
        name, checked = check_name(name), check_fields(fields)
        if secret_exists(conn, name):
            raise SecretExists(f"secret {name!r} already exists (rotate it with PUT)")
        key = self._data_key(conn, tenant, create=True)
        assert key is not None
        now = _utcnow()
        meta = SecretMeta(str(uuid.uuid4()), name, tuple(checked), now, now)
        try:
            conn.execute(
                insert(schema.secrets).values(
                    id=meta.id,
                    name=name,
                    field_names=list(meta.field_names),
                    sealed=self._seal_fields(key, tenant, name, checked),
                    created_at=now,
                    updated_at=now,
                )
            )
        except IntegrityError:  # created by someone else since the check
            raise SecretExists(f"secret {name!r} already exists (rotate it with PUT)") from None
        return meta

    def rotate(self, conn: Connection, tenant: str, name: str, fields: Any) -> SecretMeta:
        """Replace the fields in place; the next attempt that reads it sees the new ones."""
        checked = check_fields(fields)
        current = get_secret(conn, name)
        key = self._data_key(conn, tenant, create=True)
        assert key is not None
        now = _utcnow()
        conn.execute(
            update(schema.secrets)
            .where(schema.secrets.c.name == name)
            .values(
                field_names=list(checked),
                sealed=self._seal_fields(key, tenant, name, checked),
                updated_at=now,
            )
        )
        return SecretMeta(current.id, name, tuple(checked), current.created_at, now)

    def open(self, conn: Connection, tenant: str, name: str) -> dict[str, str] | None:
        """The fields of secret ``name``, None when there is no such secret."""
        row = conn.execute(
            select(schema.secrets.c.sealed).where(schema.secrets.c.name == name)
        ).first()
        if row is None:
            return None
        key = self._data_key(conn, tenant, create=False)
        if key is None:
            raise SecretsLocked(f"tenant {tenant!r} has secrets but no data key")
        try:
            plain = _open(key, bytes(row.sealed), _value_aad(tenant, name))
        except InvalidTag:
            raise SecretsLocked(f"secret {name!r} does not open (altered or moved)") from None
        fields = json.loads(plain)
        return {str(k): str(v) for k, v in fields.items()}

    def source(self, tenant: str) -> TenantSecrets:
        """The engine's :class:`~cloacinactl.engine.secretsource.SecretSource` for a tenant."""
        return TenantSecrets(self, tenant)

    @staticmethod
    def _seal_fields(key: bytes, tenant: str, name: str, fields: dict[str, str]) -> bytes:
        plain = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return _seal(key, plain, _value_aad(tenant, name))


@dataclass(frozen=True)
class TenantSecrets:
    """Looks secrets up in the store of one tenant (what the engine resolves against)."""

    vault: Vault
    tenant: str

    def lookup(self, conn: Connection, name: str) -> dict[str, str] | None:
        return self.vault.open(conn, self.tenant, name)


def _dek_aad(tenant: str) -> bytes:
    return f"cloacina:data-key:{tenant}".encode()


def _value_aad(tenant: str, name: str) -> bytes:
    return f"cloacina:secret:{tenant}:{name}".encode()


def _seal(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)

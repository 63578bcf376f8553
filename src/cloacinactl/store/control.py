"""The server's global tables: tenants and API keys (only in the main ``public`` store).

They live on their own ``MetaData`` so tenant schemas and tenant SQLite files never
get copies; migration 3 creates them only in the ``public`` store. API keys are
kept as the SHA-256 (hex) of the plaintext, never the plaintext itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

from cloacinactl.store.schema import UtcDateTime

KEY_PREFIX = "clk_"

control_metadata = MetaData()

tenants = Table(
    "tenants",
    control_metadata,
    Column("name", String(63), primary_key=True),
    Column("description", Text),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    control_metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("tenant", String(63), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)
Index("ix_api_keys_tenant", api_keys.c.tenant)

T = tenants.c
K = api_keys.c


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_control_tables(conn: Connection) -> None:
    control_metadata.create_all(conn, checkfirst=True)


# -- keys (pure) ---------------------------------------------------------------------
def new_key() -> str:
    """``clk_`` + base64url (no padding) of 32 random bytes."""
    raw = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return KEY_PREFIX + raw


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRow:
    id: str
    name: str
    role: str
    tenant: str
    is_admin: bool
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _key(r: Any) -> KeyRow:
    return KeyRow(**{k: r._mapping[k] for k in KeyRow.__dataclass_fields__})


_KEY_COLUMNS = [getattr(K, name) for name in KeyRow.__dataclass_fields__]


# -- keys (queries) ------------------------------------------------------------------
def insert_key(
    conn: Connection,
    *,
    name: str,
    key_hash: str,
    role: str,
    tenant: str,
    is_admin: bool,
    now: dt.datetime,
) -> KeyRow:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "key_hash": key_hash,
        "role": role,
        "tenant": tenant,
        "is_admin": is_admin,
        "created_at": now,
        "last_used_at": None,
        "revoked_at": None,
    }
    conn.execute(api_keys.insert().values(**row))
    del row["key_hash"]
    return KeyRow(**row)


def active_key_by_hash(conn: Connection, key_hash: str) -> KeyRow | None:
    found = conn.execute(
        select(*_KEY_COLUMNS).where(K.key_hash == key_hash, K.revoked_at.is_(None))
    ).first()
    return _key(found) if found is not None else None


def touch_key(conn: Connection, key_id: str, now: dt.datetime) -> None:
    conn.execute(update(api_keys).where(K.id == key_id).values(last_used_at=now))


def list_keys(conn: Connection, *, tenant: str | None = None) -> list[KeyRow]:
    query = select(*_KEY_COLUMNS).order_by(K.created_at, K.id)
    if tenant is not None:
        query = query.where(K.tenant == tenant)
    return [_key(r) for r in conn.execute(query)]


def get_key(conn: Connection, key_id: str) -> KeyRow | None:
    found = conn.execute(select(*_KEY_COLUMNS).where(K.id == key_id)).first()
    return _key(found) if found is not None else None


def revoke_key(conn: Connection, key_id: str, now: dt.datetime) -> bool:
    """Revoke one unrevoked key; False when it is unknown or already revoked."""
    result = conn.execute(
        update(api_keys).where(K.id == key_id, K.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(result.rowcount)


def revoke_tenant_keys(conn: Connection, tenant: str, now: dt.datetime) -> int:
    result = conn.execute(
        update(api_keys).where(K.tenant == tenant, K.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(result.rowcount or 0)


def count_active_keys(conn: Connection, *, admin_only: bool = False) -> int:
    query = select(func.count()).select_from(api_keys).where(K.revoked_at.is_(None))
    if admin_only:
        query = query.where(K.is_admin.is_(True))
    return int(conn.execute(query).scalar_one())


# -- tenants ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantRow:
    name: str
    description: str | None
    created_at: dt.datetime


def list_tenants(conn: Connection) -> list[TenantRow]:
    rows = conn.execute(select(T.name, T.description, T.created_at).order_by(T.name))
    return [TenantRow(r.name, r.description, r.created_at) for r in rows]


def get_tenant(conn: Connection, name: str) -> TenantRow | None:
    r = conn.execute(select(T.name, T.description, T.created_at).where(T.name == name)).first()
    return TenantRow(r.name, r.description, r.created_at) if r is not None else None


def insert_tenant(
    conn: Connection, name: str, description: str | None, now: dt.datetime
) -> TenantRow | None:
    """Insert a tenant record; None when one of that name exists already."""
    if get_tenant(conn, name) is not None:
        return None
    conn.execute(tenants.insert().values(name=name, description=description, created_at=now))
    return TenantRow(name, description, now)


def delete_tenant(conn: Connection, name: str) -> bool:
    """Forget a tenant and its (already revoked) keys, so a new tenant of that name
    starts with none."""
    conn.execute(api_keys.delete().where(K.tenant == name))
    return bool(conn.execute(tenants.delete().where(T.name == name)).rowcount)


# ---------------------------------------------------------------------------- compiler
# One row per compiler (stable per host and home): its heartbeat, figures and Ed25519
# public key, the keys servers on this database trust for built archives. Written in
# ``cloacinactl.store.builds``, read in ``cloacinactl.store.buildwatch``.
compiler_status = Table(
    "compiler_status",
    control_metadata,
    Column("compiler_id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # idle | building | stopped
    Column("current_build", String(300)),  # "<tenant>/<package id>"
    Column("public_key", Text, nullable=False),
    Column("key_fingerprint", String(64), nullable=False),
    Column("heartbeat_interval_s", Integer, nullable=False),
    Column("builds_succeeded", Integer, nullable=False, default=0),
    Column("builds_failed", Integer, nullable=False, default=0),
    Column("last_success_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

"""Tenant secrets at rest: wrapped data key, sealed values, metadata-only reads."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from sqlalchemy import select, update

from cloacinactl.errors import UserError
from cloacinactl.store import open_store, schema
from cloacinactl.store.secrets import (
    SecretExists,
    SecretInvalid,
    SecretNotFound,
    SecretsLocked,
    Vault,
    delete_secret,
    get_secret,
    kek_from_env,
    list_secrets,
    parse_kek,
)

KEK = os.urandom(32)
VALUE = "s3cr3t-value-0xC0FFEE"


def test_kek_forms() -> None:
    assert parse_kek(KEK.hex()) == KEK
    assert parse_kek(KEK.hex().upper()) == KEK
    assert parse_kek(base64.b64encode(KEK).decode()) == KEK
    assert parse_kek(base64.urlsafe_b64encode(KEK).decode().rstrip("=")) == KEK
    assert kek_from_env({}) is None and kek_from_env({"CLOACINA_SECRET_KEK": " "}) is None
    for bad in ("short", KEK.hex()[:-2], base64.b64encode(os.urandom(31)).decode(), "x" * 64):
        with pytest.raises(UserError) as info:
            parse_kek(bad)
        assert "CLOACINA_SECRET_KEK is not a 32-byte key" in info.value.message
        assert bad not in info.value.message and bad not in (info.value.hint or "")


@pytest.mark.parametrize("tenant", ["public", "acme"])
def test_lifecycle_and_nothing_readable_at_rest(db_url: str, tenant: str) -> None:
    vault = Vault(KEK)
    with open_store(db_url, tenant=tenant) as store:
        meta = store.write(
            lambda c: vault.create(c, tenant, "db", {"password": VALUE, "user": "svc"})
        )
        assert meta.field_names == ("password", "user")
        assert set(meta.to_dict()) == {"id", "name", "field_names", "created_at", "updated_at"}
        assert store.read(lambda c: vault.open(c, tenant, "db")) == {
            "password": VALUE,
            "user": "svc",
        }
        assert store.read(lambda c: vault.source(tenant).lookup(c, "nope")) is None
        assert [m.name for m in store.read(list_secrets)] == ["db"]

        with pytest.raises(SecretExists):
            store.write(lambda c: vault.create(c, tenant, "db", {"k": "v"}))
        rotated = store.write(lambda c: vault.rotate(c, tenant, "db", {"token": "new-value-1"}))
        assert rotated.id == meta.id and rotated.field_names == ("token",)
        assert rotated.updated_at >= meta.updated_at and rotated.created_at == meta.created_at
        assert store.read(lambda c: vault.open(c, tenant, "db")) == {"token": "new-value-1"}
        assert store.read(lambda c: get_secret(c, "db")).field_names == ("token",)

        def raw(conn: Any) -> bytes:
            rows = [
                *conn.execute(select(schema.secrets)),
                *conn.execute(select(schema.secret_keys)),
            ]
            return repr(rows).encode()

        dump = store.read(raw)
        assert VALUE.encode() not in dump and b"new-value-1" not in dump

        # another KEK cannot open them, and says so without showing either key
        with pytest.raises(SecretsLocked, match="another key-encryption key"):
            store.read(lambda c: Vault(os.urandom(32)).open(c, tenant, "db"))
        # a sealed value moved to another name does not open
        store.write(lambda c: vault.create(c, tenant, "other", {"k": "vvvv"}))

        def swap(conn: Any) -> None:
            sealed = conn.execute(
                select(schema.secrets.c.sealed).where(schema.secrets.c.name == "db")
            ).scalar()
            conn.execute(
                update(schema.secrets).where(schema.secrets.c.name == "other").values(sealed=sealed)
            )

        store.write(swap)
        with pytest.raises(SecretsLocked, match="does not open"):
            store.read(lambda c: vault.open(c, tenant, "other"))

        store.write(lambda c: delete_secret(c, "db"))
        with pytest.raises(SecretNotFound):
            store.write(lambda c: delete_secret(c, "db"))
        with pytest.raises(SecretNotFound):
            store.write(lambda c: vault.rotate(c, tenant, "db", {"a": "b"}))


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("../x", {"a": "b"}, "a secret name is"),
        ("ok", {}, "at least one field"),
        ("ok", {"a": 1}, "values are strings"),
        ("ok", {"": "v"}, "field names are"),
        ("ok", {"a": "x" * 70_000}, "at most 65536 bytes"),
    ],
)
def test_bad_input_stores_nothing(tmp_path: Any, name: str, fields: Any, message: str) -> None:
    vault = Vault(KEK)
    with open_store(f"sqlite:///{tmp_path / 'c.db'}") as store:
        with pytest.raises(SecretInvalid, match=message):
            store.write(lambda c: vault.create(c, "public", name, fields))
        assert store.read(list_secrets) == []

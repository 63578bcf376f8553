"""The secret routes against the real server: metadata only, codes, roles, KEK handling."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import BIN, RunningServer, ServerPool, server_env

KEK = base64.b64encode(os.urandom(32)).decode()
VALUE = "route-secret-9f8e7d6c"
META = {"id", "name", "field_names", "created_at", "updated_at"}


@pytest.fixture(scope="module")
def kek_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    pool = ServerPool(tmp_path_factory.mktemp("secrets-server"))
    try:
        yield pool.start(env={"CLOACINA_SECRET_KEK": KEK})
    finally:
        pool.stop_all()


def test_create_list_get_rotate_delete(kek_server: RunningServer) -> None:
    tenant = kek_server.new_tenant("sec")
    c = kek_server.client()
    base = f"/v1/tenants/{tenant}/secrets"
    r = c.post(base, json={"name": "db", "fields": {"password": VALUE, "user": "svc"}})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == META and created["field_names"] == ["password", "user"]
    assert created["created_at"].endswith("Z")

    r = c.get(base)
    assert r.status_code == 200
    assert r.json()["total"] == 1 and r.json()["tenant_id"] == tenant
    assert [set(i) for i in r.json()["items"]] == [META]
    assert c.get(f"{base}/db").json() == created

    r = c.put(f"{base}/db", json={"fields": {"token": VALUE + "2"}})
    assert r.status_code == 200
    assert r.json()["id"] == created["id"] and r.json()["field_names"] == ["token"]

    r = c.post(base, json={"name": "db", "fields": {"a": "b"}})
    assert (r.status_code, r.json()["code"]) == (409, "secret_exists")
    for method, path, body in [
        ("GET", f"{base}/nope", None),
        ("PUT", f"{base}/nope", {"fields": {"a": "b"}}),
        ("DELETE", f"{base}/nope", None),
        ("GET", f"{base}/bad%20name", None),
        ("GET", f"{base}/{'n' * 300}", None),
    ]:
        r = c.request(method, path, json=body)
        assert (r.status_code, r.json()["code"]) == (404, "secret_not_found"), (method, path)

    r = c.delete(f"{base}/db")
    assert r.status_code == 200 and r.json() == {"status": "deleted", "name": "db"}
    assert c.get(base).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "x y", "fields": {"a": "b"}}, "invalid_secret"),
        ({"name": "ok", "fields": {}}, "invalid_secret"),
        ({"name": "ok", "fields": {"a": 1}}, "invalid_request"),
        ({"name": "ok", "fields": {"a": "b"}, "extra": 1}, "invalid_request"),
        ({"name": "ok"}, "invalid_request"),
        ({"name": "n" * 300, "fields": {"a": "b"}}, "invalid_request"),
    ],
)
def test_bad_bodies_are_400_and_store_nothing(
    kek_server: RunningServer, body: dict[str, object], code: str
) -> None:
    tenant = kek_server.new_tenant("bad")
    c = kek_server.client()
    r = c.post(f"/v1/tenants/{tenant}/secrets", json=body)
    assert (r.status_code, r.json()["code"]) == (400, code), r.text
    assert c.get(f"/v1/tenants/{tenant}/secrets").json()["total"] == 0


def test_only_the_tenants_admins(kek_server: RunningServer) -> None:
    tenant = kek_server.new_tenant("own")
    other = kek_server.new_tenant("other")
    base = f"/v1/tenants/{tenant}/secrets"
    assert kek_server.client(None).get(base).status_code == 401
    for role in ("read", "write"):
        r = kek_server.client(kek_server.new_key(tenant, role)).get(base)
        assert (r.status_code, r.json()["code"]) == (403, "insufficient_permissions")
    r = kek_server.client(kek_server.new_key(other, "admin")).get(base)
    assert (r.status_code, r.json()["code"]) == (403, "tenant_access_denied")
    admin = kek_server.client(kek_server.new_key(tenant, "admin"))
    assert admin.post(base, json={"name": "k", "fields": {"a": "bbbb"}}).status_code == 201
    assert (
        kek_server.client().get("/v1/tenants/nosuch/secrets").json()["code"] == "tenant_not_found"
    )


def test_without_a_kek_every_route_is_503(server: RunningServer) -> None:
    c = server.client()
    base = "/v1/tenants/public/secrets"
    for method, path, body in [
        ("GET", base, None),
        ("POST", base, {"name": "a", "fields": {"k": "v"}}),
        ("GET", f"{base}/a", None),
        ("PUT", f"{base}/a", {"fields": {"k": "v"}}),
        ("DELETE", f"{base}/a", None),
    ]:
        r = c.request(method, path, json=body)
        assert (r.status_code, r.json()["code"]) == (503, "secrets_not_configured"), method


def test_a_malformed_kek_stops_the_start(tmp_path: Path) -> None:
    bad = "not-a-key-" + VALUE
    r = subprocess.run(
        [str(BIN / "cloacina-server"), "--home", str(tmp_path / "h"), "--bind", "127.0.0.1:0",
         "--database-url", f"sqlite:///{tmp_path / 's.db'}"],
        env=server_env(CLOACINA_SECRET_KEK=bad), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 1
    assert "CLOACINA_SECRET_KEK is not a 32-byte key" in r.stderr
    assert bad not in r.stderr + r.stdout

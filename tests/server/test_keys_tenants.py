"""Keys, tenants, whoami and compiler status on the real server: status, shape, envelope."""

from __future__ import annotations

import pytest
from contract import assert_shape
from server_helpers import RunningServer
from test_shell import assert_envelope


def test_keys_lifecycle(shared_server: RunningServer) -> None:
    admin = shared_server.client()
    made = admin.post("/v1/auth/keys", json={"name": "ci"})
    assert made.status_code == 201
    body = made.json()
    assert_shape(body, "KeyCreatedResponse")
    assert body["permissions"] == "read" and body["is_admin"] is False  # default role read
    assert body["key"].startswith("clk_")
    listed = admin.get("/v1/auth/keys").json()
    assert_shape(listed, "ListResponse_KeyInfo")
    row = next(k for k in listed["items"] if k["id"] == body["id"])
    assert row["revoked"] is False and "key" not in row and "key_hash" not in row
    assert body["key"] not in str(listed)
    # the new key works, can read whoami, cannot manage keys
    ci = shared_server.client(body["key"])
    me = ci.get("/v1/auth/whoami").json()
    assert_shape(me, "WhoamiResponse")
    assert me == {
        "key_id": body["id"],
        "name": "ci",
        "role": "read",
        "tenant_id": "public",
        "is_admin": False,
    }
    assert_envelope(ci.get("/v1/auth/keys"), 403, "admin_required")
    revoked = admin.delete(f"/v1/auth/keys/{body['id']}")
    assert_shape(revoked.json(), "KeyRevokedResponse")
    after = {k["id"]: k for k in admin.get("/v1/auth/keys").json()["items"]}
    assert after[body["id"]]["revoked"] is True


def test_key_bad_input(shared_server: RunningServer) -> None:
    admin = shared_server.client()
    assert_envelope(admin.post("/v1/auth/keys", json={}), 400, "invalid_request")
    assert_envelope(
        admin.post("/v1/auth/keys", json={"name": "x", "role": "god"}), 400, "invalid_request"
    )
    assert_envelope(admin.post("/v1/auth/keys", json={"name": "a\x00b"}), 400, "invalid_request")
    assert_envelope(admin.delete("/v1/auth/keys/not-a-uuid"), 400, "invalid_key_id")
    assert_envelope(
        admin.delete("/v1/auth/keys/00000000-0000-4000-8000-000000000000"), 404, "key_not_found"
    )
    # the last is_admin key cannot be revoked: the server would be unmanageable
    me = admin.get("/v1/auth/whoami").json()
    assert_envelope(admin.delete(f"/v1/auth/keys/{me['key_id']}"), 409, "last_admin_key")


def test_tenant_keys_confined_to_their_tenant(shared_server: RunningServer) -> None:
    a = shared_server.new_tenant("a")
    b = shared_server.new_tenant("b")
    a_admin = shared_server.client(shared_server.new_key(a, "admin"))
    made = a_admin.post(f"/v1/tenants/{a}/keys", json={"name": "w", "role": "write"})
    assert made.status_code == 201 and made.json()["tenant_id"] == a
    listed = a_admin.get(f"/v1/tenants/{a}/keys").json()
    assert {k["tenant_id"] for k in listed["items"]} == {a} and listed["total"] == 2
    assert_envelope(a_admin.get(f"/v1/tenants/{b}/keys"), 403, "tenant_access_denied")
    b_key = shared_server.client().post(f"/v1/tenants/{b}/keys", json={"name": "bk"}).json()
    # another tenant's key id through this tenant's route: not found, never revoked
    assert_envelope(a_admin.delete(f"/v1/tenants/{a}/keys/{b_key['id']}"), 404, "key_not_found")
    assert shared_server.client(b_key["key"]).get("/v1/auth/whoami").status_code == 200
    gone = a_admin.delete(f"/v1/tenants/{a}/keys/{made.json()['id']}")
    assert gone.status_code == 200
    assert_envelope(
        shared_server.client(made.json()["key"]).get("/v1/auth/whoami"), 401, "unauthorized"
    )
    assert_envelope(
        shared_server.client().get("/v1/tenants/nope_none/keys"), 404, "tenant_not_found"
    )


def test_tenant_lifecycle(server: RunningServer) -> None:
    admin = server.client()
    created = admin.post("/v1/tenants", json={"name": "acme", "description": "ACME"})
    assert created.status_code == 201
    assert_shape(created.json(), "TenantCreatedResponse")
    assert created.json() == {"name": "acme", "username": "acme", "description": "ACME"}
    db_file = server.home.parent / "server0.tenant-acme.db"
    assert db_file.exists()
    assert_envelope(admin.post("/v1/tenants", json={"name": "acme"}), 409, "tenant_exists")
    listed = admin.get("/v1/tenants").json()
    assert_shape(listed, "ListResponse_TenantSummary")
    assert [t["name"] for t in listed["items"]] == ["public", "acme"]
    key = server.new_key("acme", "admin")
    assert server.client(key).get("/v1/auth/whoami").json()["tenant_id"] == "acme"
    removed = admin.delete("/v1/tenants/acme")
    assert removed.status_code == 200
    assert_shape(removed.json(), "TenantRemovedResponse")
    assert removed.json()["revoked_keys"] == 1 and removed.json()["status"] == "removed"
    assert not db_file.exists()
    assert_envelope(server.client(key).get("/v1/auth/whoami"), 401, "unauthorized")
    assert_envelope(admin.delete("/v1/tenants/acme"), 404, "tenant_not_found")
    assert_envelope(admin.get("/v1/tenants/acme/keys"), 404, "tenant_not_found")
    # a new tenant of the same name starts empty
    assert admin.post("/v1/tenants", json={"name": "acme"}).status_code == 201
    assert admin.get("/v1/tenants/acme/keys").json()["total"] == 0


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("public", "reserved_tenant_name"),
        ("pg_catalog", "reserved_tenant_name"),
        ("information_schema", "reserved_tenant_name"),
        ("1abc", "invalid_tenant_name"),
        ("a-b", "invalid_tenant_name"),
        ("..", "invalid_tenant_name"),
        ("a\x00", "invalid_tenant_name"),
        ("", "invalid_tenant_name"),
    ],
)
def test_tenant_names_refused(shared_server: RunningServer, name: str, code: str) -> None:
    assert_envelope(shared_server.client().post("/v1/tenants", json={"name": name}), 400, code)


def test_public_tenant_undeletable(shared_server: RunningServer) -> None:
    admin = shared_server.client()
    assert_envelope(admin.delete("/v1/tenants/public"), 400, "tenant_protected")
    assert_envelope(admin.delete("/v1/tenants/x%2F..%2Fy"), 404, "not_found")


def test_compiler_status_without_a_compiler(shared_server: RunningServer) -> None:
    body = shared_server.client().get("/v1/compiler/status").json()
    assert_shape(body, "CompilerStatus")
    assert body["alive"] is False and body["heartbeat_at"] is None
    assert body["building"] == 0 and body["status"] in ("idle", "backlogged")
    read_key = shared_server.new_key("public", "read")
    assert_envelope(
        shared_server.client(read_key).get("/v1/compiler/status"), 403, "insufficient_permissions"
    )


def test_probes(shared_server: RunningServer) -> None:
    anon = shared_server.client(None)
    assert anon.get("/health").json() == {"status": "ok"}
    assert anon.get("/ready").json() == {"status": "ready"}
    status = anon.get("/v1/health/status").json()
    assert status["status"] == "healthy" and status["database"]["backend"] == "sqlite"
    assert status["tenants"] >= 1 and status["version"]
    anon.get("/v1/auth/whoami")
    metrics = anon.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'cloacina_api_requests_total{method="GET",status="401"}' in text
    for family in (
        "cloacina_api_request_duration_seconds",
        "cloacina_workflows_total",
        "cloacina_tasks_total",
        "cloacina_workflow_duration_seconds",
        "cloacina_task_duration_seconds",
        "cloacina_active_workflows",
        "cloacina_active_tasks",
    ):
        assert f"# TYPE {family.removesuffix('_total')}" in text, family
    assert "tenant" not in text.split("# HELP", 1)[1].lower().replace("tenants", "")
    doc = anon.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "ErrorBody" in doc["components"]["schemas"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]

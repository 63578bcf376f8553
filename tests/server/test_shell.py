"""The server's shell on the real process: envelopes, request ids, the bootstrap key."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from server_helpers import RunningServer


def assert_envelope(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert set(r.json()) == {"error", "code"}, r.text
    assert r.json()["code"] == code, r.text
    assert r.headers["x-request-id"]


def test_bootstrap_key_file_is_0600_and_never_logged(server: RunningServer) -> None:
    key_file = server.home / "bootstrap-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert server.key.startswith("clk_") and len(server.key) == 4 + 43
    me = server.client().get("/v1/auth/whoami").json()
    assert me["is_admin"] is True and me["role"] == "admin" and me["tenant_id"] == "public"
    assert server.key not in server.log.read_text()
    # a restart neither overwrites the file nor makes another key
    first = key_file.read_text()
    server.stop()
    assert key_file.read_text() == first


def test_request_id_echoed_or_made(shared_server: RunningServer) -> None:
    c = shared_server.client(None)
    mine = c.get("/health", headers={"x-request-id": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = c.get("/health")
    assert len(made.headers["x-request-id"]) == 32
    weird = c.get("/health", headers={"x-request-id": "has space\tand tab"})
    assert weird.headers["x-request-id"] != "has space\tand tab"
    assert_envelope(c.get("/no/such/route", headers={"x-request-id": "r-404"}), 404, "not_found")


def test_error_envelopes(shared_server: RunningServer) -> None:
    anon = shared_server.client(None)
    admin = shared_server.client()
    assert_envelope(anon.post("/health"), 405, "method_not_allowed")
    assert_envelope(anon.get("/v1/auth/whoami"), 401, "unauthorized")
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    assert_envelope(anon.get("/v1/auth/whoami", headers=basic), 401, "unauthorized")
    bogus = {"Authorization": "Bearer clk_nope"}
    assert_envelope(anon.get("/v1/auth/whoami", headers=bogus), 401, "unauthorized")
    json_ct = {"content-type": "application/json"}
    assert_envelope(
        admin.post("/v1/tenants", content=b'{"name":', headers=json_ct), 400, "invalid_json"
    )
    assert_envelope(admin.post("/v1/tenants", json={"name": 5}), 400, "invalid_request")
    unknown = admin.post("/v1/tenants", json={"name": "ok_name", "colour": "red"})
    assert_envelope(unknown, 400, "invalid_request")
    assert "colour" in unknown.json()["error"]
    assert_envelope(admin.post("/v1/tenants", json={"name": "a/b"}), 400, "invalid_tenant_name")
    assert_envelope(admin.post("/v1/tenants", json={"name": "x" * 300}), 400, "invalid_request")


@pytest.mark.parametrize("chunked", [False, True])
def test_oversize_body_is_413(start_server, chunked: bool) -> None:
    srv = start_server(None, "--max-upload-mb", "1")
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    c = srv.client()
    if chunked:
        r = c.post("/v1/tenants", content=iter([big[:1000], big[1000:]]))
    else:
        r = c.post("/v1/tenants", content=big, headers={"content-type": "application/json"})
    assert_envelope(r, 413, "payload_too_large")
    assert c.get("/v1/auth/whoami").status_code == 200


def test_given_bootstrap_key(start_server) -> None:
    given = "clk_given_by_operator_0123456789"
    srv = start_server(None, "--bootstrap-key", given, key=given)
    assert srv.client().get("/v1/auth/whoami").json()["is_admin"] is True
    assert not (srv.home / "bootstrap-key").exists()
    env_key = "clk_from_environment_0123456789"
    other = start_server(None, env={"CLOACINA_BOOTSTRAP_KEY": env_key}, key=env_key)
    assert other.client().get("/v1/auth/whoami").status_code == 200


def test_short_bootstrap_key_refused(start_server) -> None:
    with pytest.raises(AssertionError, match="exited 1"):
        start_server(None, "--bootstrap-key", "short", key="short")


def test_a_key_file_already_there_is_never_overwritten(start_server, tmp_path: Path) -> None:
    """A database without keys but a bootstrap-key file from before (say, a restored
    database): the server refuses to start and leaves the file exactly as it was."""
    home = tmp_path / "home0"  # the first server's home (server_helpers)
    home.mkdir(parents=True)
    (home / "bootstrap-key").write_text("clk_an_older_key\n")
    with pytest.raises(AssertionError, match="exited 1"):
        start_server(None)
    assert "never overwritten" in (home / "logs" / "cloacina-server.log").read_text()
    assert (home / "bootstrap-key").read_text() == "clk_an_older_key\n"
    assert [p.name for p in home.iterdir() if p.name.startswith(".bootstrap")] == []


def test_write_key_file_appears_whole_and_0600(tmp_path: Path) -> None:
    from cloacinactl.errors import UserError
    from cloacinactl.services.server.bootstrap import write_key_file

    path = tmp_path / "keys" / "bootstrap-key"
    write_key_file(path, "clk_whole")
    assert path.read_text() == "clk_whole\n" and path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["bootstrap-key"]  # no temp left
    with pytest.raises(UserError, match="never overwritten"):
        write_key_file(path, "clk_other")
    assert path.read_text() == "clk_whole\n"


@pytest.mark.postgres
def test_postgres_server_tenant_schema_made_and_dropped(pg_server: RunningServer) -> None:
    import psycopg

    admin = pg_server.client()
    assert admin.post("/v1/tenants", json={"name": "acme"}).status_code == 201
    with psycopg.connect(pg_server.database_url, autocommit=True) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'acme'"
            )
        }
        assert "executions" in tables and "api_keys" not in tables and "tenants" not in tables
    removed = admin.delete("/v1/tenants/acme")
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    with psycopg.connect(pg_server.database_url, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'acme'"
        ).fetchone()
        assert left is not None and left[0] == 0

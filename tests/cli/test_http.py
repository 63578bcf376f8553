"""The HTTP client base against a real local server: every exit-code mapping row."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloacinactl.cli.http import ApiClient
from cloacinactl.errors import (
    AuthError,
    NotFoundError,
    ServerRejectedError,
    TransportError,
    UserError,
)

from .conftest import FakeServer, Reply


def test_success_sends_bearer_and_decodes_json(http_server: FakeServer) -> None:
    http_server.replies["/v1/tenants/acme/workflows"] = Reply(200, [{"name": "etl"}])
    with ApiClient(http_server.url, "clk_secret", tenant="acme") as client:
        assert client.get(client.tenant_path("workflows"), params={"x": 1, "y": None}) == [
            {"name": "etl"}
        ]
    seen = http_server.seen[-1]
    assert seen["headers"]["Authorization"] == "Bearer clk_secret"
    assert seen["path"] == "/v1/tenants/acme/workflows?x=1"


def test_post_json_and_empty_body(http_server: FakeServer) -> None:
    http_server.replies["/v1/tenants"] = Reply(204)
    with ApiClient(http_server.url, "k") as client:
        assert client.post("/v1/tenants", json={"name": "t"}) is None
    assert http_server.seen[-1]["body"] == b'{"name":"t"}'


def test_tenant_path_encodes_segments() -> None:
    client = ApiClient("http://127.0.0.1:1/", "k", tenant="a b")
    assert client.server == "http://127.0.0.1:1"
    assert client.tenant_path("workflows", "x/y") == "/v1/tenants/a%20b/workflows/x%2Fy"
    assert client.path("packages", "1") == "/v1/packages/1"


@pytest.mark.parametrize(
    ("status", "body", "error", "code", "words"),
    [
        (
            404,
            {"error": "workflow 'x' not found", "code": "not_found"},
            NotFoundError,
            3,
            "workflow 'x' not found (not_found) (HTTP 404",
        ),
        (401, {"error": "invalid API key"}, AuthError, 4, "invalid API key (HTTP 401"),
        (
            403,
            {"error": "admin role required", "code": "forbidden"},
            AuthError,
            4,
            "admin role required (forbidden)",
        ),
        (
            400,
            {"error": "bad context JSON", "code": "bad_request"},
            ServerRejectedError,
            5,
            "bad context JSON (bad_request) (HTTP 400",
        ),
        (409, {"error": "tenant exists"}, ServerRejectedError, 5, "tenant exists (HTTP 409"),
        (422, {"detail": [{"msg": "field required"}]}, ServerRejectedError, 5, "field required"),
        (500, b"Internal Server Error\n", ServerRejectedError, 5, "Internal Server Error"),
        (
            503,
            {"error": "database unavailable", "code": "unavailable"},
            ServerRejectedError,
            5,
            "database unavailable",
        ),
    ],
)
def test_error_mapping(
    http_server: FakeServer, status: int, body: Any, error: type, code: int, words: str
) -> None:
    http_server.replies["/v1/thing"] = Reply(status, body)
    with ApiClient(http_server.url, "k") as client, pytest.raises(error) as err:
        client.get("/v1/thing")
    assert err.value.exit_code == code
    assert words in err.value.message
    assert "GET /v1/thing" in err.value.message


def test_refused_is_transport(closed_port: int) -> None:
    client = ApiClient(f"http://127.0.0.1:{closed_port}", "k")
    with client, pytest.raises(TransportError) as err:
        client.get("/health")
    assert err.value.exit_code == 2 and "cannot reach server" in err.value.message


def test_timeout_is_transport(http_server: FakeServer) -> None:
    gate = threading.Event()
    http_server.replies["/slow"] = Reply(200, {}, delay_until=gate)
    try:
        client = ApiClient(http_server.url, "k", timeout=0.2)
        with client, pytest.raises(TransportError, match="timed out") as err:
            client.get("/slow")
        assert err.value.exit_code == 2
    finally:
        gate.set()


@pytest.fixture
def slammer() -> Iterator[int]:
    """A listener that accepts and closes at once (connection reset / no response)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def run() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        sock.close()


def test_dropped_connection_is_transport(slammer: int) -> None:
    with ApiClient(f"http://127.0.0.1:{slammer}", "k") as client, pytest.raises(TransportError):
        client.get("/health")


def test_non_json_success_is_rejected(http_server: FakeServer) -> None:
    http_server.replies["/v1/odd"] = Reply(200, b"<html>")
    with ApiClient(http_server.url, "k") as client, pytest.raises(ServerRejectedError):
        client.get("/v1/odd")


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://x", "http://"])
def test_bad_server_url_is_user_error(url: str) -> None:
    with pytest.raises(UserError, match="invalid server URL"):
        ApiClient(url, "k")


# End to end through the installed CLI (`config profile check` does GET /health).


def test_cli_check_ok_with_flags(cli: Any, http_server: FakeServer) -> None:
    http_server.replies["/health"] = Reply(200, {"status": "ok"})
    result = cli(
        "--server",
        http_server.url,
        "--api-key",
        "env:K",
        "config",
        "profile",
        "check",
        "-o",
        "json",
        env={"K": "clk_env"},
    )
    assert result.returncode == 0, result.stderr
    assert '"status": "reachable"' in result.stdout
    assert http_server.seen[-1]["headers"]["Authorization"] == "Bearer clk_env"


@pytest.mark.parametrize(("status", "code"), [(401, 4), (403, 4), (404, 3), (500, 5)])
def test_cli_exit_codes(cli: Any, http_server: FakeServer, status: int, code: int) -> None:
    http_server.replies["/health"] = Reply(status, {"error": "nope", "code": "x"})
    result = cli("config", "profile", "check", "--server", http_server.url, "--api-key", "k")
    assert result.returncode == code
    assert "error: nope (x)" in result.stderr


def test_cli_refused_exits_2(cli: Any, closed_port: int) -> None:
    result = cli(
        "--server",
        f"http://127.0.0.1:{closed_port}",
        "--api-key",
        "k",
        "config",
        "profile",
        "check",
    )
    assert result.returncode == 2
    assert "cannot reach server" in result.stderr and "Traceback" not in result.stderr

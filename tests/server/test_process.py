"""The server process: READY=1 only when usable, SIGTERM drain, SIGHUP, request log
(tracing: test_tracing.py)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from server_helpers import RunningServer
from svc_helpers import wait_for


def closed_port_pg() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nothing"


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    try:
        yield str(path), sock
    finally:
        sock.close()


def messages(sock: socket.socket, seconds: float) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return out


def test_no_ready_until_the_database_is_usable(start_server, notify_socket) -> None:
    address, sock = notify_socket
    srv = start_server(closed_port_pg(), env={"NOTIFY_SOCKET": address}, wait_ready=False)
    c = srv.client(None)
    assert c.get("/health").json() == {"status": "ok"}
    assert c.get("/ready").status_code == 503
    keyed = c.get("/v1/auth/whoami", headers={"Authorization": "Bearer clk_x"})
    assert keyed.status_code == 503 and keyed.json()["code"] == "not_ready"
    assert not any("READY=1" in m for m in messages(sock, 1.0))


def test_ready_once_migrated_and_keyed(start_server, notify_socket) -> None:
    address, sock = notify_socket
    srv = start_server(None, env={"NOTIFY_SOCKET": address}, wait_ready=False)
    wait_for(lambda: any("READY=1" in m for m in messages(sock, 0.2)), what="READY=1")
    # at READY=1 the bootstrap key exists and keyed routes answer at once
    key = (srv.home / "bootstrap-key").read_text().strip()
    r = httpx.get(f"{srv.url}/v1/auth/whoami", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200


def test_sigterm_finishes_in_flight_requests(server: RunningServer) -> None:
    release = threading.Event()
    result: dict[str, object] = {}

    def slow_body() -> Iterator[bytes]:
        yield b'{"name": '
        release.wait(10)
        yield b'"drained_ok"}'

    def call() -> None:
        try:
            r = server.client().post(
                "/v1/tenants", content=slow_body(), headers={"content-type": "application/json"}
            )
            result["status"] = r.status_code
        except httpx.HTTPError as exc:
            result["error"] = repr(exc)

    caller = threading.Thread(target=call)
    caller.start()
    # nothing observable marks "headers sent, body incomplete"; give the thread a moment
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "draining" in server.log.read_text(), what="drain started")
    with pytest.raises(httpx.TransportError):  # no new connections once draining
        httpx.get(f"{server.url}/health", timeout=2)
    release.set()
    caller.join(15)
    assert result == {"status": 201}, result
    assert server.proc.wait(timeout=20) == 0
    assert "server drain: HTTP requests finished" in server.log.read_text()


def _public_pem(path: Path) -> Path:
    key = Ed25519PrivateKey.generate().public_key()
    path.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def test_sighup_reloads_trusted_keys(start_server, tmp_path: Path) -> None:
    flag_key = _public_pem(tmp_path / "flag.pub")
    srv = start_server(None, "--trusted-key", str(flag_key))
    config = srv.home / "config.toml"
    second = _public_pem(tmp_path / "second.pub")
    config.write_text(f'[server]\ntrusted_keys = ["{second}"]\n')
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "2 trusted public key(s)" in srv.log.read_text(), what="keys reloaded")
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    config.write_text(f'[server]\ntrusted_keys = ["{bad}"]\n')
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "trusted keys rejected" in srv.log.read_text(), what="bad key refused")
    assert srv.proc.poll() is None
    assert srv.client().get("/v1/auth/whoami").status_code == 200


def test_bad_trusted_key_at_start_exits_1(start_server, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("nope\n")
    with pytest.raises(AssertionError, match="exited 1"):
        start_server(None, "--trusted-key", str(bad))


def test_request_log_lines_carry_the_request_id(shared_server: RunningServer) -> None:
    shared_server.client().get("/v1/auth/whoami", headers={"x-request-id": "trace-me-42"})
    wait_for(
        lambda: any(r.get("request_id") == "trace-me-42" for r in shared_server.log_records()),
        what="request log line",
    )
    line = next(r for r in shared_server.log_records() if r.get("request_id") == "trace-me-42")
    assert "path=/v1/auth/whoami" in line["message"] and "status=200" in line["message"]
    assert shared_server.key not in shared_server.log.read_text()


def test_sighup_applies_server_log_level(server: RunningServer) -> None:
    c = server.client()
    c.get("/v1/auth/whoami", headers={"x-request-id": "before-hup"})
    wait_for(lambda: "before-hup" in server.log.read_text(), what="info line")
    (server.home / "config.toml").write_text('[server]\nlog_level = "warn"\n')
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP" in server.log.read_text(), what="reload")
    time.sleep(0.3)  # the reload runs after the signal is logged
    c.get("/v1/auth/whoami", headers={"x-request-id": "after-hup"})
    c.get("/no/such/route")  # any later request; its line would be info too
    time.sleep(0.3)
    assert "after-hup" not in server.log.read_text()

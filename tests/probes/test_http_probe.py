"""The probes' own HTTP GET (a plain socket for http://) against real peers."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from probe_helpers import RawPeer

from cloacinactl.errors import TransportError
from cloacinactl.probes.http import base_url, http_get_json


def reply(status: str, body: bytes, *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status}", *headers])
    return head.encode() + b"\r\n\r\n" + body


def test_content_length_answer_read_without_waiting_for_close(raw_peer: RawPeer) -> None:
    body = json.dumps({"status": "ok", "n": 1}).encode()
    raw_peer.answer = reply("200 OK", body, f"Content-Length: {len(body)}")
    raw_peer.close_after = False  # only Content-Length tells where the answer ends
    status, parsed = http_get_json(f"127.0.0.1:{raw_peer.port}", "/v1/status", timeout_s=5)
    assert (status, parsed) == (200, {"status": "ok", "n": 1})
    request = raw_peer.requests[0].decode()
    assert request.startswith("GET /v1/status HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{raw_peer.port}\r\n" in request
    assert "Accept: application/json\r\n" in request


def test_base_path_is_kept(raw_peer: RawPeer) -> None:
    raw_peer.answer = reply("200 OK", b"{}", "Content-Length: 2")
    http_get_json(f"http://127.0.0.1:{raw_peer.port}/prefix/", "/health", timeout_s=5)
    assert raw_peer.requests[0].startswith(b"GET /prefix/health HTTP/1.1\r\n")


def test_chunked_answer_is_decoded(raw_peer: RawPeer) -> None:
    chunks = b'7\r\n{"a": [\r\nb;ext=1\r\n1, 2, 3]}  \r\n0\r\n\r\n'
    raw_peer.answer = reply("200 OK", chunks, "Transfer-Encoding: chunked")
    assert http_get_json(f"127.0.0.1:{raw_peer.port}", "/", timeout_s=5) == (200, {"a": [1, 2, 3]})


def test_answer_without_length_is_read_until_close(raw_peer: RawPeer) -> None:
    raw_peer.answer = reply("200 OK", b'{"x": true}', "Connection: close")
    assert http_get_json(f"127.0.0.1:{raw_peer.port}", "/", timeout_s=5) == (200, {"x": True})


def test_error_status_and_non_json_body(raw_peer: RawPeer) -> None:
    raw_peer.answer = reply("503 Service Unavailable", b"down", "Content-Length: 4")
    assert http_get_json(f"127.0.0.1:{raw_peer.port}", "/health", timeout_s=5) == (503, None)


NOT_HTTP = [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: y", b""]


@pytest.mark.parametrize("answer", NOT_HTTP)
def test_a_peer_that_is_not_http_is_unreachable(raw_peer: RawPeer, answer: bytes) -> None:
    raw_peer.answer = answer
    with pytest.raises(TransportError) as err:
        http_get_json(f"127.0.0.1:{raw_peer.port}", "/health", timeout_s=5)
    assert err.value.message.startswith(f"http://127.0.0.1:{raw_peer.port}/health unreachable: ")
    assert err.value.exit_code == 2


def test_refused_connection(free_tcp_port: int) -> None:
    with pytest.raises(TransportError) as err:
        http_get_json(f"127.0.0.1:{free_tcp_port}", "/v1/status", timeout_s=5)
    assert err.value.message == (
        f"http://127.0.0.1:{free_tcp_port}/v1/status unreachable: [Errno 111] Connection refused"
    )


def test_silent_peer_times_out(raw_peer: RawPeer) -> None:
    raw_peer.close_after = False  # accepts, reads the request, never answers
    with pytest.raises(TransportError) as err:
        http_get_json(f"127.0.0.1:{raw_peer.port}", "/", timeout_s=0.2)
    assert err.value.message.endswith("unreachable: timed out")


def test_numeric_host_is_not_resolved(raw_peer: RawPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_resolver(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"getaddrinfo{args} called for a numeric host")

    monkeypatch.setattr(socket, "getaddrinfo", no_resolver)
    raw_peer.answer = reply("200 OK", b"{}", "Content-Length: 2")
    assert http_get_json(f"http://127.0.0.1:{raw_peer.port}", "/", timeout_s=5) == (200, {})


def test_names_are_resolved(raw_peer: RawPeer, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    asked: list[Any] = []

    def v4_only(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return [r for r in real(host, port, *args, **kwargs) if r[0] == socket.AF_INET]

    monkeypatch.setattr(socket, "getaddrinfo", v4_only)
    raw_peer.answer = reply("200 OK", b"{}", "Content-Length: 2")
    assert http_get_json(f"http://localhost:{raw_peer.port}", "/", timeout_s=5) == (200, {})
    assert asked == [b"localhost"]
    assert f"Host: localhost:{raw_peer.port}\r\n".encode() in raw_peer.requests[0]


def test_only_http_urls_are_probed() -> None:
    with pytest.raises(TransportError, match="not an http"):
        http_get_json("ftp://127.0.0.1:21", "/", timeout_s=1)


def test_base_url() -> None:
    assert base_url(" 127.0.0.1:8080/ ") == "http://127.0.0.1:8080"
    assert base_url("https://example.test/api/") == "https://example.test/api"

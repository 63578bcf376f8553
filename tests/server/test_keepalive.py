"""Keep-alive when the server answers before reading a request's body (a refusal): a
small body is read and dropped so the connection serves the next request; a large
one is answered with ``connection: close`` (hypercorn drops that connection), so a
client never reuses a socket the server is closing."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from server_helpers import RunningServer


def connect(server: RunningServer) -> socket.socket:
    u = urlsplit(server.url)
    sock = socket.create_connection((u.hostname, u.port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[bytes, dict[bytes, bytes]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(b":") for x in lines[1:])}
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return lines[0], headers


def request(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\ncontent-type: application/json\r\n"
        f"content-length: {length}\r\n\r\n"
    ).encode()


def test_small_unread_body_keeps_the_connection(shared_server: RunningServer) -> None:
    with connect(shared_server) as sock:
        # no key: refused before the route reads the body, which arrives a bit later
        sock.sendall(request("/v1/tenants/public/workflows/x/pause", 2))
        time.sleep(0.2)
        sock.sendall(b"{}")
        status, headers = read_response(sock)
        assert b" 401 " in status and headers.get(b"connection") != b"close"
        # the same connection answers the next request
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _ = read_response(sock)
        assert b" 200 " in status


def test_large_unread_body_says_the_connection_closes(shared_server: RunningServer) -> None:
    with connect(shared_server) as sock:
        sock.sendall(request("/v1/tenants/public/workflows/x/pause", 200_000))
        sock.sendall(b"{" + b" " * 1000)  # most of the body never comes
        status, headers = read_response(sock)
        assert b" 401 " in status and headers.get(b"connection") == b"close"

"""A tiny HTTP GET for probes.

``http://`` is spoken over a plain socket: ``http.client`` would import the
email parser and ssl on the path of ``status``. Measured with ``python -m
benchmarks.cli.tricks`` (four runs of 9-15 interleaved rounds, 2-core machine),
``http.client`` here costs 20-29 ms of CPU for ``status`` and 28-31 ms for
``server health`` against a live peer, more than the probe itself. Numeric
hosts (the default 127.0.0.1) are connected to directly, without a resolver
round trip; names go through ``getaddrinfo`` as usual. ``https://`` uses
``http.client``.

This module is the only hand-written HTTP client. It sends one ``GET`` with
``Connection: close`` and reads a Content-Length, chunked or read-to-close
answer; anything else is reported as unreachable.
``tests/cli/test_library_internals.py`` checks it against h11 (what our
servers' hypercorn speaks) and fails once ``http.client`` no longer loads ssl
and the email parser, the day to switch to it.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from cloacinactl.errors import TransportError

_MAX_BODY = 1 << 20


class ProtocolError(Exception):
    """The peer's answer is not HTTP."""


def base_url(where: str) -> str:
    """``127.0.0.1:8080`` → ``http://127.0.0.1:8080``; URLs are kept (no trailing /)."""
    where = where.strip().rstrip("/")
    return where if "://" in where else f"http://{where}"


def http_get_json(base: str, path: str, timeout_s: float = 2.0) -> tuple[int, Any]:
    """GET ``base + path``; (status, parsed JSON or None). TransportError when unreachable.

    ``timeout_s`` bounds the whole exchange (connect, send, answer).
    """
    status, raw = http_get(base, path, timeout_s)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return status, body


def http_get(base: str, path: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """GET ``base + path``; (status, body bytes). TransportError when unreachable."""
    url = urlsplit(base_url(base))
    if url.scheme not in ("http", "https") or not url.hostname:
        raise TransportError(f"cannot probe {base!r}: not an http(s) URL")
    target = url.path.rstrip("/") + path
    try:
        if url.scheme == "https":
            return _https_get(url.hostname, url.port, target, timeout_s)
        return _http_get(url.hostname, url.port or 80, target, timeout_s)
    except (OSError, ProtocolError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise TransportError(f"{base_url(base)}{path} unreachable: {reason}") from None


def _https_get(host: str, port: int | None, target: str, timeout_s: float) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPSConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", target, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as exc:
        raise ProtocolError(str(exc) or type(exc).__name__) from None
    finally:
        conn.close()


def _http_get(host: str, port: int, target: str, timeout_s: float) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout_s
    sock = connect(host, port, timeout_s)
    try:
        name = f"[{host}]" if ":" in host else host
        request = (
            f"GET {target or '/'} HTTP/1.1\r\nHost: {name}:{port}\r\n"
            "Accept: application/json\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
        )
        _settimeout(sock, deadline)
        sock.sendall(request.encode("latin-1"))
        return read_response(sock, deadline)
    finally:
        sock.close()


def connect(host: str, port: int, timeout_s: float) -> socket.socket:
    """A TCP connection; a numeric host is used as is (no ``getaddrinfo``)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout_s)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock
    # A name: as bytes, an ASCII name skips the idna codec (and its import).
    name: Any = host.encode("ascii") if host.isascii() else host
    return socket.create_connection((name, port), timeout=timeout_s)


def _settimeout(sock: socket.socket, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    sock.settimeout(left)


class _Head:
    def __init__(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP answer: {lines[0][:60]!r}")
        self.status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length", "")
        self.length = int(length) if length.isdigit() and not self.chunked else None


def read_response(sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.x answer: up to Content-Length, else until the peer closes."""
    data = b""
    head: _Head | None = None
    start = 0
    while len(data) - start <= _MAX_BODY:
        if head is None and (end := data.find(b"\r\n\r\n")) >= 0:
            head, start = _Head(data[:end]), end + 4
        if head is not None and head.length is not None and len(data) - start >= head.length:
            break
        _settimeout(sock, deadline)
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if head is None:
        raise ProtocolError("incomplete HTTP answer" if data else "connection closed, no answer")
    body = data[start:]
    if head.chunked:
        return head.status, _dechunk(body)
    return head.status, body if head.length is None else body[: head.length]


def _dechunk(data: bytes) -> bytes:
    out: list[bytes] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            raise ProtocolError("truncated chunked body")
        try:
            size = int(data[pos:end].split(b";", 1)[0], 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2 : end + 2 + size])
        pos = end + 2 + size + 2

"""Fixtures of tests/probes: a raw TCP peer answering scripted bytes, a daemon socket."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from probe_helpers import RawPeer, serving


@pytest.fixture
def raw_peer() -> Iterator[RawPeer]:
    """A TCP peer on 127.0.0.1: reads one request head per connection, records it and
    writes ``answer``."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = RawPeer(port=listener.getsockname()[1])
    held: list[socket.socket] = []

    def handle(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        peer.requests.append(data)
        conn.sendall(peer.answer)
        if peer.close_after:
            conn.close()
        else:
            held.append(conn)

    try:
        with serving(listener, handle):
            yield peer
    finally:
        for conn in held:
            conn.close()


@pytest.fixture
def daemon_socket(tmp_path: Path) -> Iterator[Path]:
    """A stand-in daemon socket that answers every connection with a healthy body."""
    path = tmp_path / "daemon.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    body = json.dumps({"status": "healthy", "pid": 4242, "uptime_seconds": 61}).encode()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.sendall(body)

    with serving(listener, handle):
        yield path

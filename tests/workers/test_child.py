"""The worker program on its own: a real process on a socketpair."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from cloacinactl.workers.protocol import FrameDecoder, encode_frame, request


def start_child(tmp_path: Path) -> tuple[subprocess.Popen[bytes], socket.socket]:
    parent, child = socket.socketpair()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloacinactl.workers.child",
            "--fd",
            str(child.fileno()),
            "--capture-dir",
            str(tmp_path),
        ],
        pass_fds=(child.fileno(),),
        stdin=subprocess.DEVNULL,
    )
    child.close()
    return proc, parent


def ask(sock: socket.socket, message: dict[str, object]) -> dict[str, object]:
    sock.sendall(encode_frame(message))
    decoder = FrameDecoder()
    while True:
        data = sock.recv(65536)
        assert data, "worker closed the socket"
        got = decoder.feed(data)
        if got:
            return got[0]


def test_worker_answers_and_exits_when_its_socket_closes(tmp_path: Path) -> None:
    proc, sock = start_child(tmp_path)
    try:
        pong = ask(sock, request(1, "ping", {}))
        assert pong["ok"] and pong["id"] == 1
        assert pong["result"]["pid"] == proc.pid  # type: ignore[index]
        refused = ask(sock, {"v": 2, "id": 2, "op": "ping", "args": {}})
        assert refused["ok"] is False and "version" in json.dumps(refused["error"])
        bad_source = ask(sock, request(3, "load", {"source": {"kind": "zip"}}))
        assert bad_source["ok"] is False
        sock.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_without_a_socket_fails_clearly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cloacinactl.workers.child", "--capture-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert "no socket fd" in proc.stderr

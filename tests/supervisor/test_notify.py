"""sd_notify against a real unix datagram socket."""

from __future__ import annotations

import socket
from pathlib import Path

from cloacinactl.supervisor import Notifier


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    addr = str(tmp_path / "n.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(addr)
        sink.settimeout(5)
        n = Notifier.from_env({"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "4000000"})
        assert n.watchdog_interval_s == 2.0
        assert n.ready("up")
        assert sink.recv(100) == b"READY=1\nSTATUS=up"
        assert n.watchdog()
        assert sink.recv(100) == b"WATCHDOG=1"
        assert n.stopping()
        assert sink.recv(100) == b"STOPPING=1"


def test_disabled_without_socket_and_watchdog_pid_respected() -> None:
    assert not Notifier.from_env({}).ready()
    n = Notifier.from_env(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "10", "WATCHDOG_PID": "1"}, pid=2
    )
    assert n.watchdog_interval_s is None

"""Shared by tests/probes: scripted peers served from a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class RawPeer:
    port: int
    answer: bytes = b""
    close_after: bool = True  # False: keep the connection open after answering
    requests: list[bytes] = field(default_factory=list)


@contextlib.contextmanager
def serving(listener: socket.socket, handle: Callable[[socket.socket], None]) -> Iterator[None]:
    """Accept on ``listener`` in a thread, ``handle`` each connection; stop at exit."""

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            handle(conn)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        thread.join(5)

"""A private Unix stream socket that a service serves one connection at a time per task."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

Handler = Callable[[trio.socket.SocketType], Awaitable[None]]


async def serve_unix_socket(
    path: Path,
    handle: Handler,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``path`` (mode 0600, replacing a stale socket file: the caller holds
    the service's PID-file lock, so one already there is a leftover) and run
    ``handle(conn)`` for each connection, until cancelled; removes the file on exit."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    try:
        await sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(16)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                conn, _ = await sock.accept()
                nursery.start_soon(handle, conn)
    finally:
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

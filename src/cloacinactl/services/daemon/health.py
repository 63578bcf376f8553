"""The daemon's health socket: a Unix stream socket that writes one JSON object and closes."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.errors import UserError
from cloacinactl.supervisor.unixsock import serve_unix_socket

Payload = Callable[[], Awaitable[dict[str, Any]]]


# sun_path holds 108 bytes on Linux (104 on macOS), the terminating NUL included
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107


def check_socket_path(path: Path) -> None:
    """Refuse, before anything starts, a socket path the kernel cannot bind."""
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        raise UserError(
            f"the daemon's socket path {path} is {size} bytes; Unix sockets allow at most"
            f" {MAX_SOCKET_PATH}",
            hint="use a shorter --home (or CLOACINA_HOME)",
        )


async def serve_health_socket(
    path: Path, payload: Payload, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Listen on ``path`` (replacing a stale socket) until cancelled; removes it on exit."""

    async def handle(conn: trio.socket.SocketType) -> None:
        await _answer(conn, payload)

    await serve_unix_socket(path, handle, task_status=task_status)


async def _answer(conn: trio.socket.SocketType, payload: Payload) -> None:
    with conn:
        try:
            body = await payload()
        except Exception as exc:  # an answer that says what broke beats a silent close
            logger.opt(exception=exc).error("health payload failed: {}", exc)
            body = {"status": "unhealthy", "error": str(exc)}
        data = (json.dumps(body, default=str) + "\n").encode()
        with trio.move_on_after(5):
            try:
                while data:
                    sent = await conn.send(data)
                    data = data[sent:]
            except OSError:
                return
        logger.debug("health probe answered status={}", body.get("status"))

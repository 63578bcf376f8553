"""The daemon's graph feed: ``<home>/graphs.sock``, a Unix socket that takes injects.

The daemon has no HTTP API; this is how an operator (``cloacinactl graph inject
NAME --event FILE --daemon``) pushes an event into one of its accumulators.
One request per connection: the client writes one JSON line
``{"op": "inject", "accumulator": NAME, "event": {...}}`` (or ``{"op": "fire",
"reactor": NAME, "inputs": {...}|null}``), the daemon answers one JSON line,
``{"ok": true, ...}`` once the event is durable, or ``{"ok": false, "code":
"bad_request"|"not_found", "error": ...}``. The socket is ``0600``: only the
daemon's user may feed it.
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.engine.graphs.runtime import GraphInputError, GraphNotFoundError, GraphRuntime
from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.supervisor.unixsock import serve_unix_socket

SOCKET_NAME = "graphs.sock"
MAX_REQUEST = 4 * 1024 * 1024


def feed_socket_path(home: Path) -> Path:
    return home / SOCKET_NAME


async def serve_feed_socket(
    path: Path,
    runtime: GraphRuntime,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``path`` (replacing a stale socket) until cancelled; removes it on exit."""

    async def handle(conn: trio.socket.SocketType) -> None:
        await _serve_one(conn, runtime)

    await serve_unix_socket(path, handle, task_status=task_status)


async def _read_line(conn: trio.socket.SocketType) -> bytes:
    data = b""
    while b"\n" not in data and len(data) <= MAX_REQUEST:
        chunk = await conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


async def answer(runtime: GraphRuntime, request: Any) -> dict[str, Any]:
    """One request → its answer (never raises for a bad request)."""
    if not isinstance(request, dict):
        return {"ok": False, "code": "bad_request", "error": "the request must be a JSON object"}
    op = request.get("op")
    try:
        if op == "inject":
            name = str(request.get("accumulator") or "")
            if "event" not in request:
                raise GraphInputError("an inject needs an 'event'")
            fed = await runtime.inject(name, request["event"])
            return {"ok": True, "accumulator": name, "reactors": fed}
        if op == "fire":
            name = str(request.get("reactor") or "")
            inputs = request.get("inputs")
            mode = "force_fire" if inputs is None else "fire_with"
            sources = await runtime.fire(name, mode, inputs)
            return {"ok": True, "reactor": name, "mode": mode, "inputs": sources}
        raise GraphInputError(f"unknown op {op!r}; one of inject, fire")
    except (GraphNotFoundError, NotFoundError) as exc:
        return {"ok": False, "code": "not_found", "error": exc.message}
    except UserError as exc:
        return {"ok": False, "code": "bad_request", "error": exc.message}


async def _serve_one(conn: trio.socket.SocketType, runtime: GraphRuntime) -> None:
    with conn:
        try:
            with trio.fail_after(10):
                line = await _read_line(conn)
            try:
                request = json.loads(line)
            except ValueError as exc:
                body: dict[str, Any] = {
                    "ok": False,
                    "code": "bad_request",
                    "error": f"the request is not JSON: {exc}",
                }
            else:
                body = await answer(runtime, request)
        except trio.TooSlowError:
            return
        except Exception as exc:  # say what broke rather than close silently
            logger.opt(exception=exc).error("graph feed request failed: {}", exc)
            body = {"ok": False, "code": "internal", "error": str(exc)}
        data = (json.dumps(body, default=str) + "\n").encode()
        with trio.move_on_after(5), contextlib.suppress(OSError):
            while data:
                sent = await conn.send(data)
                data = data[sent:]


def send_request(path: Path, request: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
    """Client side (blocking): send ``request`` to the daemon's feed socket, return the answer.

    Raises ``ConnectionError`` when no daemon listens there.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no daemon is feeding graphs at {path}") from exc
        sock.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data.strip():
        raise ConnectionError(f"the daemon at {path} closed the feed without answering")
    answer_body = json.loads(data.split(b"\n", 1)[0])
    if not isinstance(answer_body, dict):
        raise ConnectionError(f"the daemon at {path} answered {answer_body!r}")
    return answer_body

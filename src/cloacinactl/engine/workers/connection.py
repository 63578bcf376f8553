"""The pool's end of a worker's private socket: one request at a time (trio)."""

from __future__ import annotations

import socket
from typing import Any

import trio

from . import protocol


class WorkerGone(Exception):
    """The worker closed its socket (it exited or crashed)."""


class Connection:
    """Framed request/response over the parent end of a socketpair."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = trio.socket.from_stdlib_socket(sock)
        self._decoder = protocol.FrameDecoder()
        self._next_id = 1

    async def request(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its ``result``; raise on a protocol error."""
        request_id = self._next_id
        self._next_id += 1
        frame = protocol.encode_frame(protocol.request(request_id, op, args))
        try:
            view = memoryview(frame)
            while view:
                sent = await self._sock.send(view)
                view = view[sent:]
            response = await self._receive()
        except (OSError, trio.ClosedResourceError) as exc:
            raise WorkerGone(str(exc)) from exc
        if response.get("id") != request_id:
            raise protocol.ProtocolError(
                f"response id {response.get('id')!r} does not match request {request_id}"
            )
        if not response.get("ok"):
            error = response.get("error") or {}
            raise protocol.ProtocolError(
                f"worker refused {op}: {error.get('type')}: {error.get('message')}"
            )
        result = response.get("result")
        if not isinstance(result, dict):
            raise protocol.ProtocolError(f"worker answered {op} without a result object")
        return result

    async def _receive(self) -> dict[str, Any]:
        while True:
            data = await self._sock.recv(1 << 20)
            if not data:
                raise WorkerGone("worker closed its socket")
            messages = self._decoder.feed(data)
            if messages:
                if len(messages) > 1 or self._decoder.pending:
                    raise protocol.ProtocolError("worker sent more than one response")
                return messages[0]

    def close(self) -> None:
        """Close the parent's end (the worker sees EOF and exits when idle)."""
        self._sock.close()

"""The pool's end of a worker's private socket: one request at a time (trio)."""

from __future__ import annotations

import socket
from collections import deque
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
        self._backlog: deque[dict[str, Any]] = deque()

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
        return _result_of(response, request_id, op)

    async def send_requests(self, calls: list[tuple[str, dict[str, Any]]]) -> list[int]:
        """Pipeline several requests in one write; returns their ids in order.

        The worker serves them one after the other and answers each as soon as
        it is done, so :meth:`next_result` tells when each one finished.
        """
        ids: list[int] = []
        frames: list[bytes] = []
        for op, args in calls:
            ids.append(self._next_id)
            frames.append(protocol.encode_frame(protocol.request(self._next_id, op, args)))
            self._next_id += 1
        try:
            view = memoryview(b"".join(frames))
            while view:
                sent = await self._sock.send(view)
                view = view[sent:]
        except (OSError, trio.ClosedResourceError) as exc:
            raise WorkerGone(str(exc)) from exc
        return ids

    def has_result(self) -> bool:
        """Whether an answer has already arrived (``next_result`` will not wait)."""
        return bool(self._backlog)

    async def next_result(self, request_id: int, op: str) -> dict[str, Any]:
        """The ``result`` of pipelined request ``request_id`` (answers come in order)."""
        if not self._backlog:
            try:
                while not self._backlog:
                    data = await self._sock.recv(1 << 20)
                    if not data:
                        raise WorkerGone("worker closed its socket")
                    self._backlog.extend(self._decoder.feed(data))
            except (OSError, trio.ClosedResourceError) as exc:
                raise WorkerGone(str(exc)) from exc
        return _result_of(self._backlog.popleft(), request_id, op)

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


def _result_of(response: dict[str, Any], request_id: int, op: str) -> dict[str, Any]:
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

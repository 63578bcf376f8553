"""The wire protocol between the pool (parent) and a worker process (child).

Frames are length-prefixed JSON: a 4-byte big-endian unsigned length, then that
many bytes of UTF-8 JSON holding one object. The channel is a private socket
(a socketpair end passed to the child), never the worker's stdout/stderr,
which belong to the running task.

Request:  ``{"v": 1, "id": <int>, "op": "<op>", "args": {...}}``
Response: ``{"v": 1, "id": <int>, "ok": true, "result": {...}}`` or
          ``{"v": 1, "id": <int>, "ok": false, "error": {"type": ..., "message": ...}}``

Operations (``op``) and their ``args`` / ``result``:

- ``ping``: ``{}`` → ``{"pid": int, "index": int, "protocol": 1, "sources": [ids]}``
- ``load``: ``{"source": <source>}`` → ``{"source_id": str, "description": {...},
  "cached": bool}``
- ``run_task``: ``{"source": <source>, "workflow": str, "task_id": str,
  "function": str | null, "context": {...}, "execution_id": str, "attempt": int,
  "timeout": float | null, "secrets"?: {slot: {field: value}}}`` → a task outcome
  (see ``outcome.py``; secret values are masked in what it reports)
- ``poll_trigger``: ``{"source": <source>, "trigger": str, "function": str | null}``
  → ``{"fire": bool, "context": {...} | null}``
- ``graph``: ``{"source": <source>, "action": "accumulate" | "poll" | "execute", ...}``
  → see ``cloacinactl.workers.graphcall``

A ``<source>`` is ``{"kind": "module", "module": str, "sys_path": [str]}`` or
``{"kind": "package", "package_id": str, "root": str, "manifest": {...}}``.

This module is pure: framing and message building, no I/O.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from cloacinactl.jsonfast import JsonText, compact_dumps

PROTOCOL_VERSION = 1
FD_ENV = "CLOACINA_WORKER_FD"  # the environment variable naming the worker's socket fd
DEFAULT_OUTPUT_LIMIT = 1024 * 1024  # bytes kept per captured stream (the tail)
HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
OPS = frozenset({"ping", "load", "run_task", "poll_trigger", "graph"})


class ProtocolError(Exception):
    """A frame or message that breaks the protocol."""


# circularity check on: task code builds the values
_encode = compact_dumps(ascii_only=False, check_circular=True)


def encode_frame(message: dict[str, Any]) -> bytes:
    """Serialise one message to a length-prefixed frame. A member of its ``args``
    given as stored JSON text (:class:`~cloacinactl.jsonfast.JsonText`) goes in as
    that text, not decoded and encoded again."""
    args = message.get("args")
    stored = None
    if type(args) is dict:
        stored = [(k, v.text) for k, v in args.items() if type(v) is JsonText]
    if args and stored:
        rest = {k: v for k, v in args.items() if type(v) is not JsonText}
        text = _encode({**message, "args": rest})
        # "args" is the message's last member (see request()): its object closes the text
        if not text.endswith("}}") or list(message)[-1] != "args":
            raise ProtocolError("stored JSON goes only in a request's args")
        members = ",".join(f"{_encode(k)}:{v}" for k, v in stored)
        text = f"{text[:-2]}{',' if rest else ''}{members}}}}}"
    else:
        text = _encode(message)
    body = text.encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"message of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Incremental decoder: feed bytes, take whole messages out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add received bytes; return every message now complete."""
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte limit")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            messages.append(decode_body(body))
        return messages

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole frame."""
        return len(self._buffer)


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse one frame body into a message object."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"frame is not UTF-8 JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError("frame does not hold a JSON object")
    return message


def request(request_id: int, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Build a request message."""
    if op not in OPS:
        raise ProtocolError(f"unknown operation {op!r}")
    return {"v": PROTOCOL_VERSION, "id": request_id, "op": op, "args": args}


def ok_response(request_id: int, result: dict[str, Any]) -> dict[str, Any]:
    """Build a successful response message."""
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error_response(request_id: int, error_type: str, message: str) -> dict[str, Any]:
    """Build a failed response message (the request itself could not be served)."""
    return {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": {"type": error_type, "message": message},
    }


def check_request(message: dict[str, Any]) -> tuple[int, str, dict[str, Any]]:
    """Validate a request; return (id, op, args) or raise ProtocolError."""
    if message.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {message.get('v')!r} is not supported (this worker speaks "
            f"{PROTOCOL_VERSION})"
        )
    request_id = message.get("id")
    op = message.get("op")
    args = message.get("args", {})
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise ProtocolError("request id must be an integer")
    if op not in OPS:
        raise ProtocolError(f"unknown operation {op!r}")
    if not isinstance(args, dict):
        raise ProtocolError("request args must be an object")
    return request_id, str(op), args

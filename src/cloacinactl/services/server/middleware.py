"""The request middleware (plain ASGI, outermost): request id, body limit, metrics, log, 500s.

- ``x-request-id``: the caller's when it sent a sane one, else a new one; on every
  answer, and on the request's log line (``request_id`` field);
- bodies over the limit are 413 ``payload_too_large`` (by ``content-length`` up
  front, or while a chunked body streams in);
- an exception nothing else handled is logged and answered 500
  ``internal_error`` with no detail;
- each answer counts in ``cloacina_api_requests_total`` and its duration, and writes
  one log line (``log_line``: the service's direct writer, else loguru).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from loguru import logger

from cloacinactl.config.logfilter import INFO, LEVEL_NAMES
from cloacinactl.services.http import error_body
from cloacinactl.services.server.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (logger name, level number, message, extra fields): ServiceLogging.line's shape
LogLine = Callable[[str, int, str, Mapping[str, Any]], None]

REQUEST_ID = b"x-request-id"
SANE_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")
DRAIN_AT_LEAST = 64 * 1024 * 1024
# a request body up to this size that the app did not read is read before the answer
DRAIN_SMALL = 64 * 1024
QUIET_PATHS = frozenset({"/health", "/metrics"})


def loguru_line(name: str, level: int, message: str, extra: Mapping[str, Any]) -> None:
    """The request line through loguru (an app run outside the service's supervisor)."""
    logger.bind(**extra).log(LEVEL_NAMES.get(level, "INFO"), message)


class BodyTooLarge(BaseException):
    """Not an ``Exception``: FastAPI turns those raised while it reads a body into 400."""


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower case), if sent."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID and SANE_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex


def _envelope(status: int, code: str, message: str, request_id: str) -> list[Message]:
    body = json.dumps(error_body(message, code)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (REQUEST_ID, request_id.encode()),
    ]
    return [
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    ]


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        tracer: Any = None,
        log_line: LogLine | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.tracer = tracer
        self.log_line = log_line or loguru_line

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.tracer is None or scope["type"] != "http":
            await self._handle(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        with self.tracer.start_as_current_span(f"{method} request", kind=_server_kind()) as span:
            try:
                await self._handle(scope, receive, send)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute(
                    "http.response.status_code", scope.get("state", {}).get("status", 0)
                )
                span.set_attribute(
                    "cloacina.request_id", scope.get("state", {}).get("request_id", "")
                )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope.get("headers", []))
        scope.setdefault("state", {})["request_id"] = request_id
        rid = request_id.encode()
        status = 500
        response_started = False

        body = _BodyState(_has_body(scope))

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                headers = [*message.get("headers", []), (REQUEST_ID, rid)]
                if body.unread:
                    # answered before the request body was read (a refusal): hypercorn
                    # drops a connection whose request was not read to its end. A small
                    # body is read and dropped here so the connection lives on; past
                    # that the answer says the connection closes, or a client reuses
                    # it and its next request meets a closed socket
                    declared = _content_length(scope)
                    if declared is not None and declared <= DRAIN_SMALL:
                        await _drain(receive, declared)
                        body.unread = False
                    else:
                        headers.append((b"connection", b"close"))
                message["headers"] = headers
            await send(message)

        async def respond(code_status: int, code: str, message: str) -> None:
            nonlocal status
            status = code_status
            for msg in _envelope(code_status, code, message, request_id):
                await send(msg)

        limit = self.max_body_bytes
        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                await _drain(receive, limit)
                await respond(413, "payload_too_large", f"request body over {limit} bytes")
                return
            await self.app(scope, _limited(receive, limit, body), send_with_id)
        except BodyTooLarge:
            if not response_started:
                await _drain(receive, limit)
                await respond(413, "payload_too_large", f"request body over {limit} bytes")
        except Exception as exc:
            logger.opt(exception=exc).bind(request_id=request_id).error(
                "request failed method={} path={}: {}",
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
            )
            if not response_started:
                await respond(500, "internal_error", "internal server error")
        finally:
            elapsed = time.perf_counter() - started
            scope["state"]["status"] = status
            method = str(scope.get("method", ""))
            self.metrics.request_done(method, status, elapsed)
            path = str(scope.get("path", ""))
            if path not in QUIET_PATHS:
                self.log_line(
                    __name__,
                    INFO,
                    f"request method={method} path={path} status={status}"
                    f" duration_ms={elapsed * 1000:.1f}",
                    {"request_id": request_id},
                )


def _server_kind() -> Any:
    from opentelemetry.trace import SpanKind  # only reached with tracing set up

    return SpanKind.SERVER


def _content_length(scope: Scope) -> int | None:
    value = header(scope, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


async def _drain(receive: Receive, limit: int) -> None:
    """Read (and drop) what the client is still sending, so it sees our 413 instead of
    a connection reset mid-upload; give up past a bound and let the connection close."""
    seen = 0
    while seen <= max(4 * limit, DRAIN_AT_LEAST):
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class _BodyState:
    """Whether a request's body has been read to its end by the app."""

    def __init__(self, has_body: bool) -> None:
        self.unread = has_body


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


def _limited(receive: Receive, limit: int, body: _BodyState) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
            if not message.get("more_body", False):
                body.unread = False
        return message

    return wrapped

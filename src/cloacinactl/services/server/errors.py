"""Every error the server answers is ``{"error": <message>, "code": <stable_code>}``.

Routes raise :class:`ApiError`; FastAPI's own failures (unknown route, wrong
method, malformed JSON, validation) are turned into the same envelope here.
Uncaught exceptions become 500 ``internal_error`` in the request middleware
(``middleware.py``), which also adds ``x-request-id`` to that answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cloacinactl.services.http import error_body

PAGINATION_FIELDS = frozenset({"limit", "offset"})
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An error answer: raising it in a route (or dependency) gives that status and envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(message, code), status_code=status)


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(code, message) for pydantic/FastAPI validation errors.

    The message names each failing field and why, never the value sent (a body
    may carry secrets).
    """
    if any(e.get("type") == "json_invalid" for e in errors):
        return "invalid_json", "request body is not valid JSON"
    parts: list[str] = []
    fields: set[str] = set()
    for e in errors[:10]:
        loc = [str(p) for p in e.get("loc", ())]
        if len(loc) >= 2 and loc[0] == "query":
            fields.add(loc[1])
        where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    more = f" (+{len(errors) - 10} more)" if len(errors) > 10 else ""
    code = "invalid_pagination" if fields and fields <= PAGINATION_FIELDS else "invalid_request"
    return code, "; ".join(parts) + more


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        if status == 404:
            message = f"no route {request.method} {request.url.path}"
        elif status == 405:
            message = f"method {request.method} not allowed on {request.url.path}"
        else:
            message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = error_response(status, HTTP_CODES.get(status, "http_error"), message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = describe_validation(exc.errors())
        return error_response(400, code, message)

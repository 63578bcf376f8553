"""Serving an ASGI app with hypercorn's trio worker; FastAPI errors as JSON; the probe app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cloacinactl import __version__


def error_body(message: str, code: str) -> dict[str, str]:
    return {"error": message, "code": code}


def install_json_errors(app: FastAPI) -> None:
    """Every error leaves as ``{"error": …, "code": …}``."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(detail, code), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(str(exc.errors()), "invalid_request"), status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal error", "internal"), status_code=500)


def probe_app(title: str) -> FastAPI:
    """A FastAPI app with JSON errors and the liveness probe ``GET /health`` (no database)."""
    app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None)
    install_json_errors(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def serve_http(
    app: Any,
    host: str,
    port: int,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    graceful_timeout_s: float = 1.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port``; reports the bound ``host:port`` once listening.

    When ``shutdown_trigger`` returns, the listener closes and in-flight requests get
    up to ``graceful_timeout_s`` to finish; then this returns.
    """
    from hypercorn.config import Config
    from hypercorn.trio import serve

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = graceful_timeout_s
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(serve, shutdown_trigger=shutdown_trigger), app, config
        )
        task_status.started(bound_address(binds[0]) if binds else f"{host}:{port}")


def bound_address(url: str) -> str:
    """``http://127.0.0.1:8080`` → ``127.0.0.1:8080``."""
    return url.split("://", 1)[-1].rstrip("/")

"""``build_app(state)``: the server's FastAPI app: routers, envelopes, middleware, OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cloacinactl import __version__
from cloacinactl.services.server.auth import AuthorizedRoute
from cloacinactl.services.server.authz import RULES
from cloacinactl.services.server.errors import install_error_handlers
from cloacinactl.services.server.middleware import RequestMiddleware
from cloacinactl.services.server.models import ERROR_DESCRIPTIONS, ERROR_SCHEMA_REF
from cloacinactl.services.server.routes import ROUTERS
from cloacinactl.services.server.state import ServerState

TITLE = "cloacina-server API"
ERROR_BODY_SCHEMA = {
    "type": "object",
    "description": "Every error answer: a message for a person and a stable code.",
    "required": ["error", "code"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
}


def build_app(state: ServerState) -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        # our own spans (otel.py, middleware) are the trace; FastAPI's would double them
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.server = state
    install_error_handlers(app)
    for router in ROUTERS:
        # the routes themselves, not include_router: FastAPI matches an included
        # router's routes through a wrapper per router and per route, which cost a
        # keyed list ~20 % of its time in-process. Our routers have no prefix, and a
        # route carries its class (AuthorizedRoute: authorization) and tags from
        # when it was declared (the authorization matrix test proves every route).
        for route in router.routes:
            if not isinstance(route, AuthorizedRoute):  # fail closed, at start
                raise TypeError(f"{route!r} is not an AuthorizedRoute (use auth.keyed_router)")
        app.router.routes.extend(router.routes)
    app.add_middleware(
        RequestMiddleware,
        metrics=state.metrics,
        max_body_bytes=state.config.max_body_bytes,
        tracer=state.tracer,
        log_line=state.request_log,
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=TITLE, version=__version__, routes=app.routes)
            app.openapi_schema = document_errors(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _error(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS.get(status, "Error"),
        "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
    }


def document_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """Say what we really answer: validation is 400 (not FastAPI's 422) with the
    envelope; keyed routes can be 401/403 (404 for an unknown tenant); bodies can
    be 413; anything can be 500. Security follows :data:`RULES`."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorBody"] = ERROR_BODY_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    components["securitySchemes"] = {
        "api_key": {
            "type": "http",
            "scheme": "bearer",
            "description": "Cloacina API key, sent as `Authorization: Bearer <key>`.",
        }
    }
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            responses.pop("422", None)
            rule = RULES.get((method.upper(), path))
            wanted = [400, 500]
            if rule is not None and rule.scope != "public":
                op["security"] = [{"api_key": []}]
                wanted += [401, 403, 503]
                if rule.scope == "tenant" or "{" in path:
                    wanted.append(404)
            if "requestBody" in op:
                wanted.append(413)
            for status in wanted:
                responses.setdefault(str(status), _error(status))
    return doc

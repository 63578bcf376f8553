"""Shared pieces of the request and response models of every router."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from cloacinactl.services.server.errors import ApiError


class StrictBody(BaseModel):
    """A request body: unknown fields are a 400, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


def uuid_param(text: str, what: str) -> str:
    """A path id in canonical UUID form; 400 ``invalid_<what>_id`` when it is not one."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ApiError(400, f"invalid_{what}_id", f"{what} id {text!r} is not a UUID") from None


def rfc3339(value: dt.datetime | None) -> str | None:
    """A UTC time as RFC 3339 with ``Z``."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# past any real table, and inside every backend's 64-bit integers
MAX_OFFSET = 1_000_000_000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page(
    limit: int = Query(50, ge=1, le=1000, description="Page size, 1-1000."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip."),
) -> Page:
    """``limit`` / ``offset`` query parameters; out of range is 400 ``invalid_pagination``."""
    return Page(limit, offset)


ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERROR_DESCRIPTIONS = {
    400: "Invalid request",
    401: "Missing or invalid API key",
    403: "Not allowed for this key",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    500: "Internal error",
    503: "Not available",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route decorator: these statuses answer the error envelope."""
    return {
        s: {
            "description": ERROR_DESCRIPTIONS.get(s, "Error"),
            "content": {"application/json": {"schema": ERROR_SCHEMA_REF}},
        }
        for s in statuses
    }

"""Check an answer against the upstream server's OpenAPI document (its shapes are ours)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

# a copy of the upstream server's OpenAPI 3.1 document, kept with the tests
UPSTREAM = Path(__file__).resolve().parents[1] / "contracts" / "upstream-openapi.json"


@cache
def upstream() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(UPSTREAM.read_text())
    return doc


def assert_shape(body: Any, schema_name: str) -> None:
    """``body`` matches ``#/components/schemas/<schema_name>`` of the upstream document."""
    doc = upstream()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]}
    errors = [str(e) for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
    assert not errors, f"{schema_name}: {errors}"

"""Schemathesis against our own ``/openapi.json`` on the real server: no 5xx, no answer
outside its documented statuses, schema and content type (bounded example count)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from server_helpers import RunningServer

from cloacinactl.store.secrets import KEK_ENV

ST = Path(sys.executable).parent / "st"
CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)


def test_schemathesis_finds_nothing(start_server: Any, tmp_path: Path) -> None:
    # secrets: with a KEK the secret routes answer, instead of 503 secrets_not_configured
    server: RunningServer = start_server(env={KEK_ENV: "ab" * 32})
    result = subprocess.run(
        [
            str(ST),
            "run",
            f"{server.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {server.key}",
            "--checks",
            CHECKS,
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    # nothing it sent crashed a request
    assert not [
        r for r in server.log_records() if r.get("message", "").startswith("request failed")
    ]

"""The terminal-only behaviour of the client commands, on a real pseudo-terminal (pexpect):
colour, the hidden secret prompt, the upload progress bar, confirmation, Ctrl-C on --follow."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import installed

from .conftest import FakeServer, Reply

TENANTS = {"items": [{"name": "public"}, {"name": "acme"}], "total": 2}


@pytest.fixture
def spawn(home: Path, http_server: FakeServer) -> Iterator[Any]:
    children: list[pexpect.spawn] = []

    def run(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
        full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "RUST_LOG")}
        full.update({"COLUMNS": "120", "TERM": "xterm-256color", **(env or {})})
        argv = ["--home", str(home), "--server", http_server.url, "--api-key", "k", *args]
        child = pexpect.spawn(
            installed("cloacinactl"), argv, env=full, encoding="utf-8", timeout=20
        )
        children.append(child)
        return child

    try:
        yield run
    finally:
        for child in children:
            child.close(force=True)


def _finish(child: pexpect.spawn) -> tuple[str, int]:
    child.expect(pexpect.EOF)
    child.close()
    return str(child.before), int(child.exitstatus if child.exitstatus is not None else -1)


def test_colour_on_a_terminal_only_without_opt_outs(spawn: Any, http_server: FakeServer) -> None:
    http_server.replies["/v1/tenants"] = Reply(200, TENANTS)
    out, code = _finish(spawn("tenant", "list"))
    assert code == 0 and "\033[1mNAME" in out and "acme" in out
    for child in (
        spawn("tenant", "list", "--no-color"),
        spawn("tenant", "list", env={"NO_COLOR": "1"}),
    ):
        out, code = _finish(child)
        assert code == 0 and "acme" in out and "\033[" not in out


def test_secret_prompt_hides_the_value(spawn: Any, http_server: FakeServer) -> None:
    meta = {
        "id": "s1",
        "name": "db",
        "field_names": ["password"],
        "created_at": "t",
        "updated_at": "t",
    }
    http_server.replies["/v1/tenants/public/secrets"] = Reply(201, meta)
    child = spawn("secret", "create", "db", "--field", "password")
    child.expect("value for password: ")
    child.sendline("pa55-typed-in")
    out, code = _finish(child)
    assert code == 0, out
    assert "pa55-typed-in" not in out and "password" in out
    assert json.loads(http_server.seen[-1]["body"]) == {
        "name": "db",
        "fields": {"password": "pa55-typed-in"},
    }


def test_confirmation_prompt(spawn: Any, http_server: FakeServer) -> None:
    http_server.replies["/v1/tenants/acme"] = Reply(
        200, {"status": "removed", "schema_name": "acme", "revoked_keys": 0}
    )
    child = spawn("tenant", "delete", "acme")
    child.expect(r"delete tenant 'acme'.*\[y/N\] ")
    child.sendline("n")
    out, code = _finish(child)
    assert code == 1 and "aborted" in out and http_server.seen == []
    child = spawn("tenant", "delete", "acme")
    child.expect(r"\[y/N\] ")
    child.sendline("y")
    out, code = _finish(child)
    assert code == 0 and "tenant 'acme' deleted" in out
    assert http_server.seen[-1]["method"] == "DELETE"


def test_upload_shows_a_progress_bar_on_a_terminal(
    spawn: Any, http_server: FakeServer, tmp_path: Path
) -> None:
    archive = tmp_path / "big.cloacina"
    archive.write_bytes(os.urandom(8 * 1024 * 1024))
    http_server.replies["/v1/tenants/public/workflows"] = Reply(
        201, {"package_id": "p-9", "tenant_id": "public"}
    )
    out, code = _finish(spawn("package", "upload", str(archive)))
    assert code == 0, out
    assert "uploading big.cloacina" in out and "p-9" in out
    assert len(http_server.seen[-1]["body"]) > archive.stat().st_size


def test_ctrl_c_stops_following_quietly(spawn: Any, http_server: FakeServer) -> None:
    gate = threading.Event()  # the stream never answers until the test ends
    path = "/v1/tenants/public/executions/e1/events/stream"
    http_server.replies[path] = Reply(200, b"", delay_until=gate)
    try:
        child = spawn("execution", "events", "e1", "--follow")
        deadline = threading.Event()
        for _ in range(200):
            if any(s["path"] == path for s in http_server.seen):
                break
            deadline.wait(0.05)
        child.sendintr()
        out, code = _finish(child)
    finally:
        gate.set()
    assert code == 0, out
    assert "stopped following" in out and "Traceback" not in out

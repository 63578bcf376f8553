"""Client commands through the installed CLI against a scripted local HTTP server.

The real-server runbook lives in tests/server/; these pin the client-side rules
a real server cannot provoke on demand (a stream that misses an event, exactly
what is sent, what is refused before anything is sent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .conftest import FakeServer, Reply

EXEC = "0b6f7c1e-0000-4000-8000-000000000001"


def _flags(server: FakeServer) -> tuple[str, ...]:
    return ("--server", server.url, "--api-key", "clk_test")


def test_key_create_id_prints_only_the_key(cli: Any, http_server: FakeServer) -> None:
    created = {
        "id": "k1",
        "name": "ci",
        "key": "clk_plain",
        "permissions": "write",
        "tenant_id": "acme",
        "is_admin": False,
        "created_at": "2026-01-01T00:00:00Z",
    }
    http_server.replies["/v1/tenants/acme/keys"] = Reply(201, created)
    result = cli(
        *_flags(http_server),
        "--tenant",
        "acme",
        "key",
        "create",
        "ci",
        "--role",
        "write",
        "-o",
        "id",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "clk_plain\n"
    assert "only time the key is shown" in result.stderr
    sent = http_server.seen[-1]
    assert sent["method"] == "POST" and json.loads(sent["body"]) == {"name": "ci", "role": "write"}


def test_destructive_commands_refuse_without_a_terminal(cli: Any, http_server: FakeServer) -> None:
    http_server.replies["/v1/tenants/acme"] = Reply(
        200, {"status": "removed", "schema_name": "acme", "revoked_keys": 2}
    )
    for argv in (
        ("tenant", "delete", "acme"),
        ("key", "revoke", "k1"),
        ("package", "delete", "p1"),
        ("secret", "delete", "s"),
    ):
        result = cli(*_flags(http_server), *argv)
        assert result.returncode == 1, argv
        assert "refusing without --force" in result.stderr
    assert http_server.seen == []
    forced = cli(*_flags(http_server), "tenant", "delete", "acme", "--force")
    assert forced.returncode == 0, forced.stderr
    assert http_server.seen[-1]["method"] == "DELETE" and "2 key(s) revoked" in forced.stderr


def test_bad_context_is_exit_1_before_any_request(
    cli: Any, tmp_path: Path, closed_port: int
) -> None:
    bad = tmp_path / "ctx.json"
    bad.write_text('{"a": 1,,}')
    server = ("--server", f"http://127.0.0.1:{closed_port}", "--api-key", "k")
    for argv in (
        ("workflow", "run", "etl", "--context", str(bad)),
        ("trigger", "fire", "t", "--context", str(bad)),
    ):
        result = cli(*server, *argv)
        assert result.returncode == 1, result.stderr
        assert "invalid JSON at line 1, column 9" in result.stderr
    piped = cli(*server, "workflow", "run", "etl", "--context", "-", input="[1, 2]")
    assert piped.returncode == 1 and "must be a JSON object" in piped.stderr


def test_literal_secret_value_is_refused_and_never_echoed(
    cli: Any, http_server: FakeServer
) -> None:
    result = cli(*_flags(http_server), "secret", "create", "db", "--field", "password=hunter2")
    assert result.returncode == 1
    assert "refused" in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert http_server.seen == []


def test_follow_prints_events_in_order_and_exits_by_outcome(
    cli: Any, http_server: FakeServer
) -> None:
    base = f"/v1/tenants/public/executions/{EXEC}"

    def event(seq: int, kind: str, task: str | None) -> dict[str, Any]:
        return {
            "id": f"e{seq}",
            "sequence_num": seq,
            "event_type": kind,
            "task_name": task,
            "created_at": f"t{seq}",
        }

    stream = "".join(
        f"id: {e['sequence_num']}\nevent: {e['event_type']}\ndata: {json.dumps(e)}\n\n"
        for e in (event(1, "workflow_started", None), event(2, "task_failed", "load"))
    )
    http_server.replies[f"{base}/events/stream"] = Reply(200, (": ping\n\n" + stream).encode())
    http_server.replies[base] = Reply(
        200, {"tenant_id": "public", "execution_id": EXEC, "status": "Failed"}
    )
    # the stream closed before the last event: the final catch-up shows it, once
    all_events = [
        event(1, "workflow_started", None),
        event(2, "task_failed", "load"),
        event(3, "workflow_failed", None),
    ]
    http_server.replies[f"{base}/events"] = Reply(
        200, {"tenant_id": "public", "execution_id": EXEC, "events": all_events}
    )
    result = cli(*_flags(http_server), "execution", "events", EXEC, "--follow", "--no-color")
    assert result.returncode == 5, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["#1", "#2", "#3"]
    assert "task_failed" in lines[1] and "load" in lines[1]
    assert f"execution {EXEC} Failed" in result.stderr
    ndjson = cli(*_flags(http_server), "execution", "events", EXEC, "--follow", "-o", "json")
    assert [json.loads(line)["sequence_num"] for line in ndjson.stdout.splitlines()] == [1, 2, 3]
    stream_request = next(s for s in http_server.seen if s["path"].endswith("/events/stream"))
    assert stream_request["headers"]["Accept"] == "text/event-stream"


def test_upload_sends_the_signature_side_car(
    cli: Any, http_server: FakeServer, tmp_path: Path
) -> None:
    archive = tmp_path / "etl-1.0.0.cloacina"
    archive.write_bytes(b"BZh9" + b"\0" * 5000)
    (tmp_path / "etl-1.0.0.cloacina.sig").write_text('{"signature": "abc"}')
    http_server.replies["/v1/tenants/acme/workflows"] = Reply(
        201, {"package_id": "p-1", "tenant_id": "acme"}
    )
    result = cli(
        *_flags(http_server), "--tenant", "acme", "package", "upload", str(archive), "-o", "id"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "p-1\n" and result.stderr == ""  # no progress bar when not a terminal
    sent = http_server.seen[-1]
    assert sent["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="file"; filename="etl-1.0.0.cloacina"' in sent["body"]
    assert b'name="signature"' in sent["body"] and b'{"signature": "abc"}' in sent["body"]
    assert int(sent["headers"]["Content-Length"]) == len(sent["body"])
    missing = cli(*_flags(http_server), "package", "upload", str(tmp_path / "none.cloacina"))
    assert missing.returncode == 1 and "no such archive" in missing.stderr

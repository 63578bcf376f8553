"""The client commands' pure parts: SSE decoding, multipart bodies, JSON and secret input."""

from __future__ import annotations

import email.parser
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloacinactl.cli.follow import decode_events, event_text, outcome_code
from cloacinactl.cli.multipart import FilePart, MultipartBody
from cloacinactl.cli.remote import filtered, ids_text, read_json_object
from cloacinactl.cli.secret import read_fields
from cloacinactl.cli.sse import SseDecoder
from cloacinactl.errors import UserError


def test_sse_decoder_follows_the_event_stream_rules() -> None:
    decoder = SseDecoder()
    lines = [
        ": ping",
        "id: 7",
        "event: task_started",
        'data: {"a":',
        "data: 1}",
        "",
        "",
        "retry: 500",
    ]
    events = [e for e in (decoder.feed(line) for line in lines) if e is not None]
    assert len(events) == 1
    assert events[0].event == "task_started" and events[0].data == '{"a":\n1}'
    assert events[0].id == "7" and decoder.last_id == "7" and decoder.retry_ms == 500
    # the id persists for later events that carry none; a bare field name has an empty value
    later = [decoder.feed(x) for x in ("data", "")]
    assert later[-1] is not None and later[-1].data == "" and later[-1].id == "7"


def test_decode_events_fills_type_and_sequence_and_skips_control() -> None:
    lines = [
        "id: 3",
        'data: {"event_type": "task_completed", "task_name": "a"}',
        "",
        "event: end",
        'data: {"status": "Completed"}',
        "",
        "id: 4",
        "event: workflow_completed",
        "data: not json",
        "",
    ]
    events = list(decode_events(lines))
    assert events == [
        {"event_type": "task_completed", "task_name": "a", "sequence_num": 3},
        {"event_data": "not json", "event_type": "workflow_completed", "sequence_num": 4},
    ]


def test_event_text_is_one_cut_line() -> None:
    event = {
        "created_at": "2026-01-01T00:00:00Z",
        "sequence_num": 12,
        "event_type": "task_failed",
        "task_name": "load",
        "event_data": '{"error": "' + "x" * 300 + '"}',
    }
    plain = event_text(event, width=80)
    assert len(plain) == 80 and plain.endswith("…") and "#12" in plain and "\n" not in plain
    assert event_text(event, width=80, colour=True).startswith("\033[31m")
    assert outcome_code("Completed") == 0 and outcome_code("Failed") == 5


def test_multipart_body_round_trips(tmp_path: Path) -> None:
    archive = tmp_path / 'we"ird.cloacina'
    archive.write_bytes(bytes(range(256)) * 700)  # > 2 chunks
    sig = tmp_path / "x.sig"
    sig.write_text('{"signature": "s"}')
    body = MultipartBody(
        [FilePart("file", archive), FilePart("signature", sig, "application/json")]
    )
    seen: list[int] = []
    data = b"".join(body.chunks(seen.append))
    assert (
        len(data) == body.length and sum(seen) == body.file_bytes == 256 * 700 + sig.stat().st_size
    )
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data
    )
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == 2
    assert parts[0].get_param("name", header="content-disposition") == "file"
    assert parts[0].get_payload(decode=True) == archive.read_bytes()
    assert parts[1].get_param("name", header="content-disposition") == "signature"
    assert parts[1].get_payload(decode=True) == sig.read_bytes()


def test_json_context_errors_name_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "ctx.json"
    bad.write_text('{\n  "a": 1,\n  "b": oops\n}\n')
    with pytest.raises(UserError, match=r"invalid JSON at line 3, column 8"):
        read_json_object(str(bad))
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(UserError, match="must be a JSON object, not an array"):
        read_json_object(str(tmp_path / "list.json"))
    with pytest.raises(UserError, match="no such file"):
        read_json_object(str(tmp_path / "none.json"))
    (tmp_path / "empty.json").write_text("  \n")
    assert read_json_object(str(tmp_path / "empty.json")) == {}
    assert read_json_object(None) == {}


def test_read_fields_sources_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return "typed"

    fields = read_fields(
        [f"password=@{tmp_path / 'pw'}", "token=-", "pin"],
        stdin=io.StringIO("from-stdin\n"),
        prompt=prompt,
    )
    assert fields == {"password": "s3cret-from-file", "token": "from-stdin", "pin": "typed"}
    assert prompts == ["value for pin: "]
    with pytest.raises(UserError) as err:
        read_fields(["password=hunter2"], stdin=io.StringIO(), prompt=prompt)
    assert "refused" in err.value.message and "hunter2" not in str(err.value) + str(err.value.hint)
    with pytest.raises(UserError, match="no terminal"):
        read_fields(["pin"], stdin=io.StringIO(), prompt=None)
    with pytest.raises(UserError, match="only one --field"):
        read_fields(["a=-", "b=-"], stdin=io.StringIO("x"), prompt=None)
    with pytest.raises(UserError, match="twice"):
        read_fields(["a=-", "a=-"], stdin=io.StringIO("x"), prompt=None)
    with pytest.raises(UserError, match="no such file"):
        read_fields([f"a=@{tmp_path / 'none'}"], stdin=io.StringIO(), prompt=None)
    with pytest.raises(UserError, match="at least one"):
        read_fields([], stdin=io.StringIO(), prompt=None)


def test_filtered_lists_and_ids() -> None:
    body = {
        "items": [{"id": "1", "package_name": "etl"}, {"id": "2", "package_name": "ml"}],
        "total": 2,
    }
    kept = filtered(body, lambda row: "et" in row["package_name"])
    assert kept == {"items": [{"id": "1", "package_name": "etl"}], "total": 1}
    assert ids_text(body["items"], "id") == "1\n2\n"
    assert ids_text([{"workflow_name": "w"}], "workflow_name") == "w\n"
    with pytest.raises(UserError):
        ids_text([{"x": 1}], "id")


@pytest.mark.parametrize(
    "argv",
    [
        ["workflow", "--help"],
        ["execution", "events", "--help"],
        ["package", "upload", "--help"],
        ["secret", "create", "--help"],
        ["key", "--help"],
        ["tenant", "delete", "--help"],
        ["trigger", "fire", "--help"],
    ],
)
def test_client_help_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from cloacinactl.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    modules = set(json.loads(out.stderr.strip().splitlines()[-1]))
    assert "cloacinactl.cli.main" in modules
    for heavy in ("httpx", "rich", "yaml", "trio", "sqlalchemy", "fastapi", "cloacinactl.cli.http"):
        assert heavy not in modules, f"{heavy} imported by {argv}"

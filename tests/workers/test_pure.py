"""Pure parts of the workers package: framing, dispatch, outcomes, capture files."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import pytest

from cloacinactl.cloaca import TriggerResult
from cloacinactl.jsonfast import JsonText
from cloacinactl.workers.calling import normalise_trigger_result, wants_handle
from cloacinactl.workers.capture import parse_log_lines, read_tail
from cloacinactl.workers.dispatch import WorkerView, choose_worker
from cloacinactl.workers.outcome import is_transient, json_problem
from cloacinactl.workers.protocol import (
    FrameDecoder,
    ProtocolError,
    check_request,
    encode_frame,
    request,
)
from cloacinactl.workers.sources import ModuleSource, PackageSource, source_from_dict


def test_frames_round_trip_when_split_anywhere() -> None:
    messages = [request(i, "ping", {"x": "é" * i}) for i in range(1, 5)]
    data = b"".join(encode_frame(m) for m in messages)
    for cut in range(len(data)):
        decoder = FrameDecoder()
        got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert got == messages and decoder.pending == 0


def test_stored_json_goes_into_a_frame_as_its_text() -> None:
    stored = '{"rows":[{"id":1,"name":"é \\" }"}],"n":1.0,"t":true}'
    sent = request(3, "run_task", {"workflow": "w", "context": JsonText(stored), "attempt": 2})
    body = encode_frame(sent)[4:].decode()
    assert stored in body  # spliced as it was stored, not encoded again
    (got,) = FrameDecoder().feed(encode_frame(sent))
    assert got == request(
        3, "run_task", {"workflow": "w", "context": json.loads(stored), "attempt": 2}
    )
    # only member of args; a key that needs escaping
    (alone,) = FrameDecoder().feed(encode_frame(request(4, "run_task", {'c"x': JsonText("{}")})))
    assert alone["args"] == {'c"x': {}}
    with pytest.raises(ProtocolError, match="args"):
        encode_frame({"args": {"c": JsonText("{}")}, "id": 1})


def test_stored_json_reads_as_a_mapping_decoded_once() -> None:
    text = JsonText('{"a":{"b":[1,2]},"c":null}')
    assert text["a"] == {"b": [1, 2]} and dict(text) == {"a": {"b": [1, 2]}, "c": None}
    assert text == {"a": {"b": [1, 2]}, "c": None} and len(text) == 2
    assert text.value is text.value  # decoded once
    assert json_problem(text) is None
    with pytest.raises(ValueError, match="not an object"):
        len(JsonText("[1]"))


def test_bad_frames_and_requests_are_refused() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\x00\x00\x00\x02[]")
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(b"\x00\x00\x00\x01{")
    with pytest.raises(ProtocolError, match="version"):
        check_request({"v": 99, "id": 1, "op": "ping", "args": {}})
    with pytest.raises(ProtocolError, match="unknown operation"):
        check_request({"v": 1, "id": 1, "op": "exec", "args": {}})
    assert check_request(request(7, "load", {"a": 1})) == (7, "load", {"a": 1})


def test_dispatch_prefers_affinity_then_fewest_sources_then_longest_idle() -> None:
    idle = [
        WorkerView(1, {"a"}, idle_since=5),
        WorkerView(2, {"a", "b"}, idle_since=1),
        WorkerView(3, set(), idle_since=9),
        WorkerView(4, set(), idle_since=3),
    ]
    assert choose_worker(idle, "b") == 2
    assert choose_worker(idle, "a") == 2  # both warm: the one idle longest
    assert choose_worker(idle, "c") == 4  # cold: fewest sources, then idle longest
    assert choose_worker(idle, None) == 4
    with pytest.raises(ValueError):
        choose_worker([], "a")


def test_json_problem_judges_subclasses_and_odd_values_as_the_full_walk_does() -> None:
    class Colour(StrEnum):
        RED = "red"

    class Count(int):
        pass

    fine: list[object] = [
        {"c": Colour.RED, "n": Count(3), "t": (1, "a"), "f": 1.5, "b": False, "z": None},
        [[], {}, ""],
        Colour.RED,
    ]
    for value in fine:
        assert json_problem(value) is None, value
    assert "a.b[1]" in (json_problem({"a": {"b": [1, float("nan")]}}) or "")
    assert "x[0]" in (json_problem({"x": [object()]}) or "")
    assert "key" in (json_problem({"a": {("t",): 1}}) or "")
    assert "<root>" in (json_problem({1, 2}) or "")


def test_json_problem_names_the_path() -> None:
    assert json_problem({"a": [1, 2.5, None, {"b": True}]}) is None
    assert "a[1]" in (json_problem({"a": [1, {1, 2}]}) or "")
    assert "a.b" in (json_problem({"a": {"b": float("inf")}}) or "")
    assert "key 3" in (json_problem({3: 1}) or "")


def test_transient_errors() -> None:
    class TransientError(Exception):
        pass

    class Sub(TransientError):
        pass

    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert is_transient(Sub()) and not is_transient(ValueError())


def test_trigger_results_normalise() -> None:
    assert normalise_trigger_result(True, "t") == ({"fire": True, "context": None}, None)
    assert normalise_trigger_result(False, "t") == ({"fire": False, "context": None}, None)
    fired, _ = normalise_trigger_result(TriggerResult.fire({"k": 1}), "t")
    assert fired == {"fire": True, "context": {"k": 1}}
    skipped, _ = normalise_trigger_result(TriggerResult.skip(), "t")
    assert skipped == {"fire": False, "context": None}
    none, error = normalise_trigger_result(None, "trigger 'x'")
    assert none is None and error is not None and error.kind == "bad_return"


def test_wants_handle_by_parameter_name() -> None:
    def plain(ctx: object) -> None: ...
    def with_handle(ctx: object, handle: object) -> None: ...
    def with_task_handle(ctx: object, task_handle: object) -> None: ...
    def other(ctx: object, extra: object) -> None: ...

    assert not wants_handle(plain) and not wants_handle(other)
    assert wants_handle(with_handle) and wants_handle(with_task_handle)


def test_sources_round_trip_and_ids() -> None:
    module = ModuleSource("flows", ("/a", "/b"))
    package = PackageSource("demo-1.0.0-abc", "/srv/demo", {"name": "demo"})
    assert source_from_dict(json.loads(json.dumps(module.to_dict()))) == module
    assert source_from_dict(package.to_dict()) == package
    assert module.source_id != ModuleSource("flows", ("/b", "/a")).source_id
    assert package.source_id == "package:demo-1.0.0-abc"
    with pytest.raises(ValueError, match="kind"):
        source_from_dict({"kind": "zip"})


def test_read_tail_marks_truncation(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"x" * 100 + b"END")
    assert read_tail(path, 1000) == "x" * 100 + "END"
    tail = read_tail(path, 10)
    assert tail.endswith("x" * 7 + "END") and "93 bytes truncated" in tail
    assert read_tail(tmp_path / "missing", 10) == ""


def test_log_lines_tolerate_torn_lines() -> None:
    records = parse_log_lines('{"level": "INFO", "message": "ok"}\nnot json\n\n')
    assert records[0]["message"] == "ok"
    assert records[1]["message"] == "not json"


def test_call_failures_name_the_cause() -> None:
    from cloacinactl.workers.outcome import call_failure

    who = "worker 2 (pid 99)"
    common = {"protocol_failure": None, "stopped": False}
    timeout = call_failure("run_task", who, returncode=-9, timeout=1.5, **common)
    assert (timeout.kind, timeout.signal, timeout.transient) == ("timeout", 9, True)
    assert "1.5 s" in timeout.message
    crashed = call_failure("run_task", who, returncode=-11, timeout=None, **common)
    assert crashed.kind == "crashed" and "SIGSEGV" in crashed.message and crashed.signal == 11
    exited = call_failure("load", who, returncode=3, timeout=None, **common)
    assert exited.exit_code == 3 and "exit 3" in exited.message and "load" in exited.message
    stopped = call_failure(
        "run_task", who, returncode=-15, timeout=None, protocol_failure=None, stopped=True
    )
    assert stopped.kind == "cancelled"

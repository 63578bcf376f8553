"""Guards for the start-up/exit tricks that lean on a library's internals.

Each trick lives in one place (``cli/framework.py``, ``procexit.py``,
``probes/http.py``) with its measured reason beside it. These tests fail when
the library changes under a trick, or when the reason for it is gone, so the
trick is revisited rather than silently broken or kept for nothing.
"""

from __future__ import annotations

import argparse
import gettext
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import h11
import pytest

from cloacinactl.cli.framework import memoize_argparse_gettext
from cloacinactl.probes.http import http_get, http_get_json


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )


# --- argparse's module-level ``_`` (cli/framework.py: memoize_argparse_gettext) ---


def test_argparse_translates_through_its_module_global_underscore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the memo relies on: argparse looks ``_`` up in its module at every call."""
    assert callable(getattr(argparse, "_", None)), "argparse no longer has a module-level _"
    monkeypatch.setattr(argparse, "_", lambda text: f"<{text}>")
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--flag", help="a flag")
    text = parser.format_help()
    assert "<show this help message and exit>" in text
    assert "<usage: >" in text


def test_the_memo_keeps_the_translations_and_is_installed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(argparse, "_", gettext.gettext)  # restored after the test
    memoize_argparse_gettext()
    memo = argparse._  # type: ignore[attr-defined]
    assert hasattr(memo, "cache_info")
    memoize_argparse_gettext()
    assert argparse._ is memo  # type: ignore[attr-defined]
    for text in ("usage: ", "options", "show this help message and exit"):
        assert memo(text) == gettext.gettext(text)


# --- atexit._run_exitfuncs (procexit.exit_now) ---


def test_atexit_run_exitfuncs_runs_the_callbacks_once_in_reverse_order() -> None:
    """exit_now runs the callbacks itself, then may still fall back to sys.exit:
    they must have run (last registered first) and must not run a second time."""
    assert callable(getattr(__import__("atexit"), "_run_exitfuncs", None))
    code = (
        "import atexit\n"
        "atexit.register(print, 'first registered')\n"
        "atexit.register(print, 'last registered')\n"
        "atexit._run_exitfuncs()\n"
        "print('after')\n"
    )
    assert _fresh(code).stdout == "last registered\nfirst registered\nafter\n"


# --- the probes' plain-socket HTTP GET (probes/http.py) ---


def test_http_client_is_still_heavy_and_the_probes_do_not_load_it() -> None:
    """The reason for the plain-socket client: ``http.client`` brings ssl and the
    email parser. If a Python release drops them, switch the probes to http.client."""
    heavy = ("ssl", "email.parser")
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import {module}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    loaded = set(json.loads(_fresh(code.format(module="http.client")).stdout))
    assert all(name in loaded for name in heavy), "http.client got light: drop the raw client"
    probes = set(json.loads(_fresh(code.format(module="cloacinactl.probes.status")).stdout))
    for name in ("http.client", *heavy):
        assert name not in probes


@pytest.fixture
def h11_peer() -> Iterator[tuple[int, list[Any], list[list[Any]]]]:
    """A server whose bytes on the wire are produced by h11 (what hypercorn speaks).

    Append the events of each answer to ``answers``; ``requests`` gets what h11
    parsed of each request.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[Any] = []
    answers: list[list[Any]] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                server = h11.Connection(h11.SERVER)
                while True:
                    event = server.next_event()
                    if event is h11.NEED_DATA:
                        server.receive_data(conn.recv(65536))
                        continue
                    if isinstance(event, h11.Request):
                        requests.append(event)
                    if isinstance(event, h11.EndOfMessage):
                        break
                for answer in answers.pop(0):
                    conn.sendall(server.send(answer) or b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests, answers
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def test_h11_accepts_the_request_and_its_framed_answers_are_read(
    h11_peer: tuple[int, list[Any], list[list[Any]]],
) -> None:
    port, requests, answers = h11_peer
    body = json.dumps({"status": "healthy"}).encode()
    length = [("Content-Length", str(len(body))), ("Content-Type", "application/json")]
    answers.append(
        [h11.Response(status_code=200, headers=length), h11.Data(body), h11.EndOfMessage()]
    )
    # no length given: h11 frames an HTTP/1.1 answer as chunked
    answers.append(
        [
            h11.Response(status_code=503, headers=[("Content-Type", "application/json")]),
            h11.Data(b'{"status": '),
            h11.Data(b'"draining"}'),
            h11.EndOfMessage(),
        ]
    )
    assert http_get_json(f"127.0.0.1:{port}", "/health", timeout_s=5) == (
        200,
        {"status": "healthy"},
    )
    assert http_get(f"127.0.0.1:{port}", "/v1/status", timeout_s=5) == (
        503,
        b'{"status": "draining"}',
    )
    first = requests[0]
    assert (first.method, first.target, first.http_version) == (b"GET", b"/health", b"1.1")
    assert (b"host", f"127.0.0.1:{port}".encode()) in list(first.headers)

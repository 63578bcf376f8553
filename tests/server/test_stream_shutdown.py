"""SIGTERM while a client follows an execution's event stream: the stream ends at
once and the server drains and exits, instead of waiting out the graceful timeout."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server_helpers import RunningServer
from test_workflows_routes import package_archive, upload

SLOW = """
import time

import cloaca


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    time.sleep(2.0)
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    return context
"""


def test_sigterm_ends_open_streams(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server(None, "--shutdown-timeout-s", "30", "--workers", "1")
    http = server.client()
    assert (
        upload(http, "public", package_archive(tmp_path, "slow", SLOW).read_bytes()).status_code
        == 201
    )
    started = http.post("/v1/tenants/public/workflows/slow/execute", json={})
    assert started.status_code == 202, started.text
    url = f"/v1/tenants/public/executions/{started.json()['execution_id']}/events/stream"
    lines: list[str] = []
    ended = threading.Event()

    def follow() -> None:
        try:
            with server.client() as c, c.stream("GET", url, timeout=60) as r:
                for line in r.iter_lines():
                    lines.append(line)
        except Exception as exc:  # the connection closing is fine; record it
            lines.append(f"closed: {exc!r}")
        ended.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    deadline = time.monotonic() + 20
    while not any(line.startswith("id:") for line in lines):
        assert time.monotonic() < deadline, "no event arrived"
        time.sleep(0.05)
    http.close()  # only the stream's connection is open
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert ended.wait(10), "the stream stayed open after SIGTERM"
    assert server.proc.wait(timeout=15) == 0
    # the drain let the running task finish: well under the 30 s graceful timeout
    assert time.monotonic() - t0 < 12

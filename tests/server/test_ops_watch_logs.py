"""Against a real server: `status --watch` reads its /metrics, `server logs` its log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from server_helpers import RunningServer

BIN = Path(sys.executable).parent


def ctl(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "CLOACINA_HOME")}
    return subprocess.run(
        [str(BIN / "cloacinactl"), "--home", str(server.home), "--server", server.url, *args],
        capture_output=True,
        text=True,
        env=env | {"COLUMNS": "160"},
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_watch_shows_request_rate_from_metrics(server: RunningServer) -> None:
    out = ctl(server, "status", "--watch", "--count", "3", "--interval", "0.3")
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("server requests:")]
    assert len(lines) == 3 and lines[0].startswith("server requests: -")
    # from the second block on: a rate (the watch's own probes count) and the 5xx share
    assert re.match(r"server requests: \d+\.\d/s  errors: 0\.0%", lines[2]), lines
    assert re.search(r"│ server +│ running", out.stdout)


def test_server_logs(server: RunningServer) -> None:
    out = ctl(server, "server", "logs", "--grep", "server ready")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("\n") == 1 and "INFO" in out.stdout
    raw = ctl(server, "server", "logs", "-o", "json", "-n", "1")
    assert raw.stdout.startswith("{") and raw.stdout.count("\n") == 1

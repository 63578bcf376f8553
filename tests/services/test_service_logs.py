"""``daemon logs`` against a real daemon: its records, then --follow sees new ones."""

from __future__ import annotations

import select
import signal
import subprocess
from pathlib import Path

from svc_helpers import BIN, Services, clean_env, wait_for


def test_daemon_logs_and_follow(cli, home: Path, services: Services) -> None:
    services.start_daemon()
    ready = cli("daemon", "logs", "--grep", "daemon ready")
    assert ready.returncode == 0, ready.stderr
    assert ready.stdout.count("\n") == 1 and "INFO" in ready.stdout

    argv = [str(BIN / "cloacinactl"), "--home", str(home), "daemon", "logs", "-f", "-n", "0"]
    follow = subprocess.Popen(
        [*argv, "--level", "error"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
        text=True,
    )
    services.procs.append(follow)  # type: ignore[arg-type]
    (home / "packages" / "broken.cloacina").write_bytes(b"not an archive")
    assert follow.stdout is not None
    readable, _, _ = select.select([follow.stdout], [], [], 20)
    assert readable, "logs --follow printed nothing"
    line = follow.stdout.readline()
    assert "ERROR" in line and "broken.cloacina" in line, line
    follow.send_signal(signal.SIGINT)
    assert follow.wait(timeout=10) == 0
    wait_for(lambda: "broken.cloacina" in cli("daemon", "logs", "--level", "error").stdout)

"""Start the real ``cloacina-server`` for the benchmarks (one, or several on one database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def wait_until(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


@contextmanager
def ours(
    root: Path, database_url: str | None = None, *flags: str, key: str | None = None
) -> Iterator[tuple[int, str]]:
    """A ``cloacina-server`` (SQLite under ``root`` unless ``database_url``); (port, key).
    A later server on a shared database is given the first one's ``key``."""
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "DATABASE_URL")}
    argv = [str(BIN / "cloacina-server"), "--home", str(home), "--bind", "127.0.0.1:0"]
    argv += ["--database-url", database_url or f"sqlite:///{root / 'bench.db'}", *flags]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file = home / "server.pid"

        def address() -> str | None:
            try:
                return str(json.loads(pid_file.read_text().splitlines()[1])["address"])
            except (OSError, IndexError, KeyError, ValueError):
                return None

        def started() -> bool:
            return address() is not None and (key is not None or (home / "bootstrap-key").exists())

        wait_until(started, "server")
        key = key or (home / "bootstrap-key").read_text().strip()
        port = int(str(address()).rsplit(":", 1)[1])
        url = f"http://127.0.0.1:{port}/v1/auth/whoami"
        auth = {"Authorization": f"Bearer {key}"}
        wait_until(lambda: httpx.get(url, headers=auth).status_code == 200, "server ready")
        yield port, key
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""Start and stop real ``cloacina-server`` processes for tests (see conftest.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 30.0


def server_env(**extra: str) -> dict[str, str]:
    drop = ("RUST_LOG", "NO_COLOR", "DATABASE_URL", "CLOACINA_BOOTSTRAP_KEY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


@dataclass
class RunningServer:
    url: str
    key: str
    home: Path
    database_url: str
    proc: subprocess.Popen[bytes]
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.home / "logs" / "cloacina-server.log"

    def client(self, key: str | None = "admin", **kwargs: Any) -> httpx.Client:
        """An httpx client on this server; ``key="admin"`` (default) is the bootstrap
        key, ``None`` sends no Authorization header."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {self.key if key == 'admin' else key}"
        c = httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)
        self.clients.append(c)
        return c

    def new_tenant(self, prefix: str = "t") -> str:
        """Create a tenant with a unique name; returns the name."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        r = self.client().post("/v1/tenants", json={"name": name})
        assert r.status_code == 201, r.text
        return name

    def new_key(self, tenant: str = "public", role: str = "read") -> str:
        """Create a key of ``tenant`` with ``role``; returns the plaintext."""
        r = self.client().post(f"/v1/tenants/{tenant}/keys", json={"name": "test", "role": role})
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    def log_records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        for c in self.clients:
            c.close()
        self.clients.clear()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return int(self.proc.returncode)


def _recorded_address(home: Path) -> str | None:
    try:
        lines = (home / "server.pid").read_text().splitlines()
        address = json.loads(lines[1]).get("address")
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return str(address) if address else None


class ServerPool:
    """Starts servers under one temp folder; ``stop_all`` guarantees they are gone."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.servers: list[RunningServer] = []

    def start(
        self,
        database_url: str | None = None,
        *args: str,
        env: dict[str, str] | None = None,
        key: str | None = None,
        wait_ready: bool = True,
    ) -> RunningServer:
        n = len(self.servers)
        home = self.root / f"home{n}"
        db = database_url or f"sqlite:///{self.root / f'server{n}.db'}"
        argv = [
            str(BIN / "cloacina-server"),
            "--home",
            str(home),
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            db,
            *args,
        ]
        # stderr to a file, not a pipe: nobody drains a pipe while the server runs, and
        # once its 64 kB fill up the server blocks on its next log line
        stderr_path = self.root / f"server{n}.stderr"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                argv,
                env=server_env(**(env or {})),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        server = RunningServer("", key or "", home, db, proc)
        self.servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT_S
        address = None
        while address is None:
            if proc.poll() is not None:
                err = stderr_path.read_text(errors="replace")
                raise AssertionError(f"cloacina-server exited {proc.returncode}: {err}")
            if time.monotonic() > deadline:
                raise AssertionError("cloacina-server did not record its address")
            time.sleep(0.02)
            address = _recorded_address(home)
        server.url = f"http://{address}"
        if wait_ready:
            self._wait_ready(server, deadline)
        return server

    @staticmethod
    def _wait_ready(server: RunningServer, deadline: float) -> None:
        key_file = server.home / "bootstrap-key"
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise AssertionError(f"cloacina-server exited {server.proc.returncode}")
            if not server.key and key_file.exists():
                server.key = key_file.read_text().strip()
            if server.key:
                try:
                    r = httpx.get(
                        f"{server.url}/v1/auth/whoami",
                        headers={"Authorization": f"Bearer {server.key}"},
                        timeout=5,
                    )
                except httpx.TransportError:
                    r = None
                if r is not None and r.status_code != 503:
                    assert r.status_code == 200, r.text
                    return
            time.sleep(0.02)
        raise AssertionError("cloacina-server did not become ready")

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def stored_upload(store: Any, data: bytes) -> str:
    """Store an archive the way the upload route does (checked, then one write); its id."""
    from cloacinactl.services.server.uploads import check_upload
    from cloacinactl.store.archives import store_upload

    checked = check_upload(data, None, require_signature=False)
    row = store.write(
        lambda c: store_upload(
            c,
            name=checked.manifest.name,
            version=checked.manifest.version,
            sha256=checked.sha256,
            archive=data,
            signature=None,
            now=dt.datetime.now(dt.UTC),
            manifest=checked.manifest.to_dict(),
            description=checked.manifest.description,
        )
    )
    return str(row.id)

"""Real ``cloacina-compiler`` processes for the tests, always cleaned up."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
from svc_helpers import BIN, Services, clean_env, pid_meta, wait_for

from cloacinactl.store import open_store
from cloacinactl.store.packages import get_package

FAST_FLAGS = (
    "--poll-interval-ms", "100",
    "--heartbeat-interval-s", "1",
    "--stale-threshold-s", "3",
    "--sweep-interval-s", "1",
)  # fmt: skip


class Compiler:
    """One compiler process with its own home."""

    def __init__(
        self, services: Services, home: Path, db_url: str, *flags: str, fast: bool = True
    ) -> None:
        self.home = home
        argv = [
            str(BIN / "cloacina-compiler"), "--home", str(home), "--bind", "127.0.0.1:0",
            "--database-url", db_url, *(FAST_FLAGS if fast else ()), *flags,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] = services.popen(argv, clean_env())
        wait_for(self._recorded, timeout=30, what="compiler address")
        assert self.proc.poll() is None, self.proc.communicate()[1].decode()
        self.address = str(pid_meta(home, "compiler")["address"])

    def _recorded(self) -> bool:
        if self.proc.poll() is not None:
            return True
        try:
            return "address" in pid_meta(self.home, "compiler")
        except (FileNotFoundError, IndexError, ValueError):
            return False

    def status(self) -> dict[str, Any]:
        return dict(httpx.get(f"http://{self.address}/v1/status", timeout=10).json())

    def metrics(self) -> str:
        return httpx.get(f"http://{self.address}/metrics", timeout=10).text

    @property
    def log(self) -> str:
        path = self.home / "logs" / "cloacina-compiler.log"
        return path.read_text() if path.exists() else ""

    def messages(self) -> list[str]:
        return [json.loads(line).get("message", "") for line in self.log.splitlines() if line]


def package_row(db_url: str, package_id: str, tenant: str = "public") -> Any:
    with open_store(db_url, tenant=tenant) as store:
        return store.read(lambda c: get_package(c, package_id))


def wait_status(
    db_url: str, package_id: str, statuses: tuple[str, ...], timeout: float = 60
) -> Any:
    found: list[Any] = []

    def done() -> bool:
        row = package_row(db_url, package_id)
        found[:] = [row]
        return row.build_status in statuses

    wait_for(done, timeout=timeout, what=f"package {package_id} in {statuses}")
    return found[0]


def raw_row(db_url: str, package_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    from cloacinactl.store import schema as s

    with open_store(db_url) as store:
        row = store.read(
            lambda c: c.execute(select(s.packages).where(s.packages.c.id == package_id)).first()
        )
    return dict(row._mapping)

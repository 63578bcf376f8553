"""The daemon service: home folders, the SQLite database, the health socket, workloads.

The scheduler itself (reconciler, cron/trigger runners, worker pool) plugs in
as ``Workload`` objects; this module owns everything around them.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import trio
from loguru import logger

from cloacinactl import __version__
from cloacinactl.config import Config, load_config
from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.errors import UserError
from cloacinactl.services.daemon.health import serve_health_socket
from cloacinactl.supervisor import ServiceConfig


@dataclass(frozen=True)
class DaemonServiceConfig(ServiceConfig):
    """Everything ``cloacina-daemon`` runs with."""

    cli_watch_dirs: tuple[Path, ...] = ()
    poll_interval_ms: int = 500
    verbose: bool = False
    settings: Config = field(default_factory=Config)


class Workload(Protocol):
    """A part of the daemon's work (reconciler, schedulers, worker pool)."""

    async def serve(
        self, daemon: DaemonService, *, task_status: trio.TaskStatus[None] = ...
    ) -> None: ...

    async def reload(self, daemon: DaemonService) -> None: ...

    async def drain(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


@dataclass
class DaemonFigures:
    """Figures reported on the health socket; workloads update them."""

    packages_loaded: int = 0
    last_run_at: str | None = None
    active_workflows: int = 0
    workers: int = 0


def merge_watch_dirs(
    home_packages: Path, cli: tuple[Path, ...], configured: tuple[Path, ...]
) -> list[Path]:
    """Default + CLI + config, ``~`` expanded, de-duplicated, order kept."""
    out: list[Path] = []
    seen: set[str] = set()
    for raw in (home_packages, *cli, *configured):
        path = Path(os.path.expanduser(str(raw))).absolute()
        key = os.path.normpath(str(path))
        if key not in seen:
            seen.add(key)
            out.append(Path(key))
    return out


class DaemonService:
    """Owns the daemon's state while it runs under ``run_service``."""

    def __init__(self, config: DaemonServiceConfig, workloads: tuple[Workload, ...] = ()) -> None:
        self.config = config
        self.workloads = workloads
        self.figures = DaemonFigures()
        self.db: sqlite3.Connection | None = None
        self._db_lock = trio.Lock()
        self.watch_dirs = self._watch_dirs()

    def _watch_dirs(self) -> list[Path]:
        c = self.config
        return merge_watch_dirs(c.home.packages, c.cli_watch_dirs, c.settings.watch.directories)

    async def serve(
        self,
        config: DaemonServiceConfig,
        *,
        task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.config = config
        home = config.home
        home.ensure_dir(home.packages)
        home.ensure_dir(home.logs)
        self.db = await trio.to_thread.run_sync(open_sqlite, home.database)
        try:
            async with trio.open_nursery() as nursery:
                for workload in self.workloads:
                    await nursery.start(workload.serve, self)
                await nursery.start(serve_health_socket, home.daemon_socket, self.health)
                logger.info(
                    "daemon serving socket={} database={} watch_dirs={}",
                    home.daemon_socket,
                    home.database,
                    [str(d) for d in self.watch_dirs],
                )
                task_status.started({"socket": str(home.daemon_socket)})
        finally:
            if self.db is not None:
                self.db.close()

    async def reload(self) -> LogFilter:
        """SIGHUP: re-read config.toml, update watch dirs, tell the workloads."""
        settings = await trio.to_thread.run_sync(load_config, self.config.home)
        self.config = replace(self.config, settings=settings)
        self.watch_dirs = self._watch_dirs()
        for workload in self.workloads:
            await workload.reload(self)
        logger.debug("reload applied watch_dirs={}", [str(d) for d in self.watch_dirs])
        return resolve_filter(
            verbose=self.config.verbose,
            env=os.environ.get("RUST_LOG"),
            configured=settings.daemon.log_level,
        )

    async def drain(self) -> None:
        async with trio.open_nursery() as nursery:
            for workload in self.workloads:
                nursery.start_soon(workload.drain)

    def status_line(self) -> str:
        f = self.figures
        return f"packages={f.packages_loaded} active_workflows={f.active_workflows}"

    async def database_connected(self) -> bool:
        db = self.db
        if db is None:
            return False
        async with self._db_lock:
            try:
                await trio.to_thread.run_sync(lambda: db.execute("SELECT 1").fetchone())
            except sqlite3.Error:
                return False
        return True

    async def health(self) -> dict[str, Any]:
        """design §6's JSON."""
        rt = self.config.rt
        connected = await self.database_connected()
        f = self.figures
        body: dict[str, Any] = {
            "status": "healthy" if connected else "unhealthy",
            "pid": rt.pid,
            "uptime_seconds": round(rt.uptime_s, 3),
            "started_at": rt.started_at,
            "version": __version__,
            "database": {
                "connected": connected,
                "backend": "sqlite",
                "path": str(self.config.home.database),
            },
            "reconciler": {"packages_loaded": f.packages_loaded, "last_run_at": f.last_run_at},
            "active_workflows": f.active_workflows,
            "workers": f.workers,
            "watch_dirs": [str(d) for d in self.watch_dirs],
            "poll_interval_ms": self.config.poll_interval_ms,
        }
        for workload in self.workloads:
            body.update(workload.status())
        return body


def open_sqlite(path: Path) -> sqlite3.Connection:
    """Open or create the home database in WAL mode (blocking)."""
    try:
        conn = sqlite3.connect(str(path), timeout=5.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        raise UserError(f"cannot open database {path}: {exc}") from exc
    os.chmod(path, 0o600)
    return conn

"""The daemon service: home folders, the store, the health socket, workloads.

Startup order (the CLI reference's): ``<home>/{packages,logs}`` (logging is
already installed by the supervisor), open ``<home>/cloacina.db`` through the
store (SQLite WAL, migrations), the merged watch set (config was loaded by
``main``), then each workload in turn (the scheduling workload starts the
worker pool, the engine, the schedulers and runs the initial reconcile), then
the health socket; only then ``serve`` reports started, and the supervisor
sends READY.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import trio
from loguru import logger

from cloacinactl.config import Config, load_config
from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.services.common import runtime_status
from cloacinactl.services.daemon.health import serve_health_socket
from cloacinactl.services.reconcile import merge_watch_dirs
from cloacinactl.store import Store, open_store
from cloacinactl.supervisor import ServiceConfig


@dataclass(frozen=True)
class DaemonServiceConfig(ServiceConfig):
    """Everything ``cloacina-daemon`` runs with."""

    cli_watch_dirs: tuple[Path, ...] = ()
    poll_interval_ms: int = 500
    cli_poll_interval_ms: int | None = None  # --poll-interval wins over config on reload
    cli_shutdown_timeout_s: float | None = None  # --shutdown-timeout-s likewise
    verbose: bool = False
    settings: Config = field(default_factory=Config)
    worker_memory_limit_mb: int | None = None  # per worker; None: no limit
    secrets_file: Path | None = None  # --secrets-file: values for secret slots


class Workload(Protocol):
    """A part of the daemon's work (the scheduling workload: pool, engine, schedulers)."""

    async def serve(
        self, daemon: DaemonService, *, task_status: trio.TaskStatus[None] = ...
    ) -> None: ...

    async def reload(self, daemon: DaemonService) -> None: ...

    async def drain(self) -> None: ...

    async def status(self) -> dict[str, Any]: ...


class DaemonService:
    """Owns the daemon's state while it runs under ``run_service``."""

    def __init__(self, config: DaemonServiceConfig, workloads: tuple[Workload, ...] = ()) -> None:
        self.config = config
        self.workloads = workloads
        self._store: Store | None = None
        self.watch_dirs = self._watch_dirs()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the daemon's store is not open")
        return self._store

    def _watch_dirs(self) -> list[Path]:
        c = self.config
        return list(
            merge_watch_dirs(c.home.packages, c.cli_watch_dirs, c.settings.watch.directories)
        )

    def missing_watch_dirs(self) -> list[Path]:
        return [d for d in self.watch_dirs if not d.is_dir()]

    def _note_missing(self) -> None:
        # not an error (it may be created later), but a typo here must not go unnoticed
        for folder in self.missing_watch_dirs():
            logger.warning(
                "watch directory {} does not exist; packages dropped there are picked up"
                " once it is created",
                folder,
            )

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
        self._store = await trio.to_thread.run_sync(open_home_store, home.database)
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
                self._note_missing()
                task_status.started({"socket": str(home.daemon_socket)})
        finally:
            store, self._store = self._store, None
            if store is not None:
                store.close()

    def drain_timeout_s(self) -> float:
        """The drain deadline in force now (a SIGHUP may have changed it)."""
        return self.config.shutdown_timeout_s

    async def reload(self) -> LogFilter:
        """SIGHUP: re-read config.toml, update watch dirs, intervals, tell the workloads."""
        settings = await trio.to_thread.run_sync(load_config, self.config.home)
        poll_ms = self.config.cli_poll_interval_ms or settings.daemon.poll_interval_ms
        self.config = replace(
            self.config,
            settings=settings,
            poll_interval_ms=poll_ms,
            shutdown_timeout_s=float(
                self.config.cli_shutdown_timeout_s or settings.daemon.shutdown_timeout_s
            ),
        )
        self.watch_dirs = self._watch_dirs()
        self._note_missing()
        for workload in self.workloads:
            await workload.reload(self)
        logger.info(
            "reload applied watch_dirs={} poll_interval_ms={} debounce_ms={}",
            [str(d) for d in self.watch_dirs],
            poll_ms,
            settings.daemon.watcher_debounce_ms,
        )
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
        return f"daemon ready watch_dirs={len(self.watch_dirs)}"

    async def database_connected(self) -> bool:
        store = self._store
        if store is None:
            return False
        return await trio.to_thread.run_sync(store.ping)

    async def health(self) -> dict[str, Any]:
        """design §6's JSON, with the workloads' live figures."""
        rt = self.config.rt
        connected = await self.database_connected()
        body: dict[str, Any] = {
            "status": "healthy" if connected else "unhealthy",
            **runtime_status(rt),
            "database": {
                "connected": connected,
                "backend": "sqlite",
                "path": str(self.config.home.database),
            },
            "reconciler": {"packages_loaded": 0, "last_run_at": None},
            "active_workflows": 0,
            "workers": None,
            "watch_dirs": [str(d) for d in self.watch_dirs],
            "missing_watch_dirs": [str(d) for d in self.missing_watch_dirs()],
            "poll_interval_ms": self.config.poll_interval_ms,
        }
        for workload in self.workloads:
            body.update(await workload.status())
        return body


def open_home_store(path: Path) -> Store:
    """Open (create, migrate) the home database in WAL mode (blocking); private file."""
    store = open_store(f"sqlite:///{path}")
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return store

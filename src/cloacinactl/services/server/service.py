"""The server service: the FastAPI app over hypercorn-trio, its state, start-up and reload."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio
from fastapi import FastAPI
from loguru import logger

from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.errors import UserError
from cloacinactl.services.http import serve_http
from cloacinactl.store import Store
from cloacinactl.store.urls import DatabaseUrl
from cloacinactl.supervisor import ServiceConfig

if TYPE_CHECKING:
    from cloacinactl.services.server.state import ServerState

DEFAULT_MAX_BODY_BYTES = 100 * 1024 * 1024
MIGRATE_RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class ServerServiceConfig(ServiceConfig):
    """Everything ``cloacina-server`` runs with."""

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: DatabaseUrl | None = None
    bootstrap_key: str | None = field(default=None, repr=False)
    require_signatures: bool = False
    reconcile_interval_s: int = 30
    db_check_timeout_s: float = 2.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    verbose: bool = False
    # the URL came from config.toml (no --database-url / DATABASE_URL): SIGHUP re-reads it
    database_url_from_config: bool = False


class ServerService:
    """Owns the app and its state while the server runs under ``run_service``."""

    def __init__(self, config: ServerServiceConfig) -> None:
        self.config = config
        self.address: str | None = None
        self.state: ServerState | None = None

    def app(self, state: ServerState) -> FastAPI:
        from cloacinactl.services.server.app import build_app

        return build_app(state)

    async def serve(
        self,
        config: ServerServiceConfig,
        *,
        task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        from cloacinactl.services.server.state import ServerState

        self.config = config
        if config.database_url is None:
            raise UserError("cloacina-server needs a database URL")
        control = Store(config.database_url)
        state = ServerState(config, control)
        self.state = state
        try:
            async with trio.open_nursery() as nursery:
                address = await nursery.start(serve_http, self.app(state), config.host, config.port)
                self.address = state.address = address
                if config.runtime is not None:
                    config.rt.record(address=address)  # probes answer while the database comes up
                logger.info(
                    "server listening address={} database={}",
                    address,
                    config.database_url.redacted,
                )
                await self._start(state, nursery)
                task_status.started({"address": address})
        finally:
            state.close()
            control.close()

    async def _start(self, state: ServerState, nursery: trio.Nursery) -> None:
        """Migrations (waiting for a PostgreSQL that is not up yet), the bootstrap key,
        the components, every tenant; then keyed routes open."""
        from cloacinactl.services.server.bootstrap import ensure_bootstrap_key
        from cloacinactl.services.server.components import components

        await self._migrate(state.control)
        key_file = self.config.home.bootstrap_key
        await trio.to_thread.run_sync(
            ensure_bootstrap_key, state.control, key_file, self.config.bootstrap_key
        )
        for component in components():
            await nursery.start(component, state)
        await state.load_tenants()
        nursery.start_soon(self._follow_tenants, state)
        state.ready = True

    async def _migrate(self, store: Store) -> None:
        delay = 0.2
        warned = False
        while True:
            try:
                await trio.to_thread.run_sync(store.migrate)
                return
            except UserError as exc:
                if store.backend == "sqlite":
                    raise  # a file we cannot use does not get better by waiting
                if not warned:
                    logger.warning("database not reachable yet, retrying: {}", exc.message)
                    warned = True
            await trio.sleep(delay)
            delay = min(MIGRATE_RETRY_MAX_S, delay * 2)

    async def _follow_tenants(self, state: ServerState) -> None:
        """Tenants created or deleted by other servers on the same database."""
        while True:
            await trio.sleep(self.config.reconcile_interval_s)
            try:
                await state.sync_tenants()
            except Exception as exc:  # the database may be briefly away; try next round
                logger.warning("tenant sync failed: {}", exc)

    async def reload(self) -> LogFilter:
        """SIGHUP: check config.toml again and say what it would change.

        Nothing in it applies to a running server (its address and database are
        bound at start), so a changed ``database_url`` is reported as needing a
        restart and a broken file as rejected; the server keeps running as it is.
        """
        from cloacinactl.config import load_config
        from cloacinactl.errors import CloacinaError

        path = self.config.home.config_file
        try:
            settings = await trio.to_thread.run_sync(load_config, self.config.home)
        except CloacinaError as exc:
            logger.error("server reload: {} rejected, nothing changed: {}", path, exc.message)
        else:
            current = self.config.database_url
            configured = settings.database_url
            if self.config.database_url_from_config and current is not None:
                if configured is None:
                    logger.warning(
                        "server reload: database_url removed from {}; the running server keeps"
                        " {} until it is restarted",
                        path,
                        current.redacted,
                    )
                elif configured != current.original:
                    logger.warning(
                        "server reload: database_url changed in {}; restart the server to use it",
                        path,
                    )
            logger.info("server reload: {} checked; log filter from -v / RUST_LOG", path)
        return resolve_filter(verbose=self.config.verbose, env=os.environ.get("RUST_LOG"))

    def status_line(self) -> str:
        return f"listening on {self.address}"

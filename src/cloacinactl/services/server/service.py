"""The server service: the FastAPI app over hypercorn-trio, its state, start-up and reload."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from fastapi import FastAPI
from loguru import logger

from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.config.schema import DaemonConfig
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
    # --trusted-key PATH (repeatable); config.toml's server.trusted_keys adds more
    trusted_key_paths: tuple[Path, ...] = ()
    verbose: bool = False
    # the URL came from config.toml (no --database-url / DATABASE_URL): SIGHUP re-reads it
    database_url_from_config: bool = False
    # secrets: the key-encryption key from CLOACINA_SECRET_KEK (None: secrets are off)
    secret_kek: bytes | None = field(default=None, repr=False)
    # worker processes per tenant (None: max(2, CPUs))
    workers: int | None = None
    # the engine and scheduler settings of config.toml's [daemon] table, read once at start
    engine_settings: DaemonConfig = field(default_factory=DaemonConfig)


class ServerService:
    """Owns the app and its state while the server runs under ``run_service``."""

    def __init__(self, config: ServerServiceConfig) -> None:
        self.config = config
        self.address: str | None = None
        self.state: ServerState | None = None
        # config.toml's server.log_level as last read (kept when a reload is rejected)
        self._configured_level: str | None = None  # _trusted_keys() sets it
        self._stop_http = trio.Event()
        self._http_done = trio.Event()

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
        from cloacinactl.services.server.otel import setup_tracing

        trusted = await trio.to_thread.run_sync(self._trusted_keys)
        control = Store(config.database_url)
        state = ServerState(config, control)
        state.trusted_keys = trusted
        if config.runtime is not None:
            state.request_log = config.rt.logging.line
        tracing = setup_tracing(os.environ)
        if tracing is not None:
            state.tracer = tracing.get_tracer("cloacina-server")
        self.state = state
        try:
            async with trio.open_nursery() as nursery:
                address = await nursery.start(self._serve_http, self.app(state))
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
            if tracing is not None:
                tracing.shutdown()

    async def _serve_http(
        self, app: FastAPI, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        try:
            await serve_http(
                app,
                self.config.host,
                self.config.port,
                shutdown_trigger=self._stop_http.wait,
                graceful_timeout_s=max(1.0, self.config.shutdown_timeout_s),
                task_status=task_status,
            )
        finally:
            self._http_done.set()

    async def drain(self) -> None:
        """SIGTERM: stop accepting, let in-flight requests finish, then drain each
        tenant's executions (listeners with a ``drain()``); the supervisor bounds it.
        Open event streams end first, so they do not hold the drain up."""
        if self.state is not None:
            self.state.stopping.set()
        self._stop_http.set()
        await self._http_done.wait()
        logger.info("server drain: HTTP requests finished")
        state = self.state
        if state is None:
            return
        async with trio.open_nursery() as nursery:
            for listener in state.tenant_listeners:
                drain = getattr(listener, "drain", None)
                if drain is not None:
                    nursery.start_soon(drain)

    def _trusted_keys(self) -> tuple[Any, ...]:
        """The flag's public keys and config.toml's ``server.trusted_keys`` (blocking)."""
        from cloacinactl.config import load_config

        settings = load_config(self.config.home).server
        self._configured_level = settings.log_level
        return load_trusted_keys([*self.config.trusted_key_paths, *settings.trusted_keys])

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
        configured_level = self._configured_level
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
            configured_level = self._configured_level = settings.server.log_level
            logger.info("server reload: {} checked", path)
            await self._reload_trusted_keys()
        return resolve_filter(
            verbose=self.config.verbose, env=os.environ.get("RUST_LOG"), configured=configured_level
        )

    async def _reload_trusted_keys(self) -> None:
        from cloacinactl.errors import CloacinaError

        try:
            trusted = await trio.to_thread.run_sync(self._trusted_keys)
        except CloacinaError as exc:
            logger.error("server reload: trusted keys rejected, keeping the old ones: {}", exc)
            return
        if self.state is not None:
            self.state.trusted_keys = trusted
        logger.info("server reload: {} trusted public key(s)", len(trusted))

    def status_line(self) -> str:
        return f"listening on {self.address}"


def load_trusted_keys(paths: Sequence[Path]) -> tuple[Any, ...]:
    """Ed25519 public keys from PEM files; a missing or bad file is a UserError naming it."""
    from cloacinactl.packages.signing import load_public_key

    keys = []
    for path in dict.fromkeys(paths):
        keys.append(load_public_key(path))
    return tuple(keys)

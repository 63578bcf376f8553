"""The server service: the FastAPI app over hypercorn-trio, probes, pluggable routers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import trio
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from loguru import logger

from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.services.common import runtime_status
from cloacinactl.services.dbcheck import DbCheck, check_database
from cloacinactl.services.http import error_body, probe_app, serve_http
from cloacinactl.store.urls import DatabaseUrl
from cloacinactl.supervisor import ServiceConfig


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
    verbose: bool = False
    # the URL came from config.toml (no --database-url / DATABASE_URL): SIGHUP re-reads it
    database_url_from_config: bool = False


class ServerService:
    """Owns the app and its state while the server runs under ``run_service``."""

    def __init__(self, config: ServerServiceConfig, routers: Sequence[APIRouter] = ()) -> None:
        self.config = config
        self.routers = tuple(routers)
        self.address: str | None = None

    async def check_db(self) -> DbCheck:
        url = self.config.database_url
        if url is None:
            return DbCheck(False, "none", "no database configured")
        return await anyio.to_thread.run_sync(check_database, url, self.config.db_check_timeout_s)

    def app(self) -> FastAPI:
        app = probe_app("cloacina-server")

        @app.get("/ready", response_model=None)
        async def ready() -> dict[str, Any] | JSONResponse:
            db = await self.check_db()
            if not db.connected:
                body = error_body(f"database unreachable: {db.error}", "database_unreachable")
                return JSONResponse(body, status_code=503)
            return {"status": "ready", "database": {"connected": True, "backend": db.backend}}

        @app.get("/v1/health/status")
        async def status() -> dict[str, Any]:
            return await self.status()

        for router in self.routers:
            app.include_router(router)
        return app

    async def status(self) -> dict[str, Any]:
        rt = self.config.rt
        db = await self.check_db()
        url = self.config.database_url
        return {
            "status": "healthy" if db.connected else "unhealthy",
            **runtime_status(rt),
            "address": self.address,
            "database": {
                "connected": db.connected,
                "backend": db.backend,
                "url": url.redacted if url else None,
                **({"error": db.error} if db.error else {}),
            },
            "require_signatures": self.config.require_signatures,
            "reconcile_interval_s": self.config.reconcile_interval_s,
        }

    async def serve(
        self,
        config: ServerServiceConfig,
        *,
        task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.config = config
        async with trio.open_nursery() as nursery:
            self.address = await nursery.start(serve_http, self.app(), config.host, config.port)
            url = config.database_url
            logger.info(
                "server listening address={} database={}",
                self.address,
                url.redacted if url else None,
            )
            task_status.started({"address": self.address})

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

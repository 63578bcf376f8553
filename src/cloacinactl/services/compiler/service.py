"""The compiler service: HTTP probes and the slot for the build loop."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from fastapi import FastAPI
from loguru import logger

from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.services.common import runtime_status
from cloacinactl.services.http import probe_app, serve_http
from cloacinactl.store.urls import DatabaseUrl
from cloacinactl.supervisor import ServiceConfig


@dataclass(frozen=True)
class CompilerServiceConfig(ServiceConfig):
    """Everything ``cloacina-compiler`` runs with."""

    host: str = "127.0.0.1"
    port: int = 9000
    database_url: DatabaseUrl | None = None
    poll_interval_ms: int = 1000
    heartbeat_interval_s: int = 10
    stale_threshold_s: int = 60
    sweep_interval_s: int = 30
    verbose: bool = False


# A build loop: started with nursery.start, given the service (for figures).
BuildLoop = Callable[..., Awaitable[None]]


class CompilerService:
    """Owns the compiler's state while it runs under ``run_service``."""

    def __init__(self, config: CompilerServiceConfig, loops: Sequence[BuildLoop] = ()) -> None:
        self.config = config
        self.loops = tuple(loops)
        self.address: str | None = None
        self.figures: dict[str, Any] = {"builds_in_flight": 0, "builds_completed": 0}

    def app(self) -> FastAPI:
        app = probe_app("cloacina-compiler")

        @app.get("/v1/status")
        async def status() -> dict[str, Any]:
            return self.status()

        return app

    def status(self) -> dict[str, Any]:
        rt = self.config.rt
        c = self.config
        return {
            "status": "healthy",
            **runtime_status(rt),
            "address": self.address,
            "database": {
                "backend": c.database_url.backend if c.database_url else None,
                "url": c.database_url.redacted if c.database_url else None,
            },
            "poll_interval_ms": c.poll_interval_ms,
            "heartbeat_interval_s": c.heartbeat_interval_s,
            "stale_threshold_s": c.stale_threshold_s,
            "sweep_interval_s": c.sweep_interval_s,
            **self.figures,
        }

    async def serve(
        self,
        config: CompilerServiceConfig,
        *,
        task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.config = config
        async with trio.open_nursery() as nursery:
            for loop in self.loops:
                await nursery.start(loop, self)
            self.address = await nursery.start(serve_http, self.app(), config.host, config.port)
            logger.info("compiler listening address={}", self.address)
            task_status.started({"address": self.address})

    async def reload(self) -> LogFilter:
        return resolve_filter(verbose=self.config.verbose, env=os.environ.get("RUST_LOG"))

    def status_line(self) -> str:
        return f"listening on {self.address}"

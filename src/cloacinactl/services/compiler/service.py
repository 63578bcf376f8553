"""The compiler service: the build loop, its HTTP probes, status and metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import trio
from fastapi import FastAPI
from fastapi.responses import Response
from loguru import logger

from cloacinactl.config.logfilter import LogFilter, resolve_filter
from cloacinactl.services.common import runtime_status
from cloacinactl.services.compiler.builder import Builder, Tunables
from cloacinactl.services.http import probe_app, serve_http
from cloacinactl.store.urls import DatabaseUrl
from cloacinactl.supervisor import ServiceConfig

# Binary defaults of the tuning flags (``compiler start --help`` shows them).
DEFAULTS = {
    "poll_interval_ms": 1000,
    "heartbeat_interval_s": 10,
    "stale_threshold_s": 60,
    "sweep_interval_s": 30,
}


@dataclass(frozen=True)
class CompilerServiceConfig(ServiceConfig):
    """Everything ``cloacina-compiler`` runs with."""

    host: str = "127.0.0.1"
    port: int = 9000
    database_url: DatabaseUrl | None = None
    poll_interval_ms: int = DEFAULTS["poll_interval_ms"]
    heartbeat_interval_s: int = DEFAULTS["heartbeat_interval_s"]
    stale_threshold_s: int = DEFAULTS["stale_threshold_s"]
    sweep_interval_s: int = DEFAULTS["sweep_interval_s"]
    verbose: bool = False
    # tuning values given as flags (config.toml's [compiler] does not override them)
    flags: dict[str, int] = field(default_factory=dict)
    import_timeout_s: float = 60.0
    import_memory_mb: int = 1024
    pip_timeout_s: float = 600.0


def tunables_from(flags: dict[str, int], section: Any) -> Tunables:
    """Flag, else ``[compiler]`` in config.toml, else the binary default (pure)."""
    out = {}
    for name, default in DEFAULTS.items():
        configured = getattr(section, name, None)
        out[name] = flags.get(name, configured if configured is not None else default)
    return Tunables(**out)


def with_tunables(config: CompilerServiceConfig, t: Tunables) -> CompilerServiceConfig:
    return replace(
        config,
        poll_interval_ms=t.poll_interval_ms,
        heartbeat_interval_s=t.heartbeat_interval_s,
        stale_threshold_s=t.stale_threshold_s,
        sweep_interval_s=t.sweep_interval_s,
    )


class Metrics:
    """The compiler's Prometheus figures (their own registry)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.builds = Counter(
            "cloacina_compiler_builds",
            "Builds finished, by outcome (success, failed, reused).",
            ["status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "cloacina_compiler_build_duration_seconds",
            "Time from claim to outcome.",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.queue = Gauge(
            "cloacina_compiler_queue_depth",
            "Builds pending, all tenants.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cloacina_compiler_builds_in_flight", "Builds in flight.", registry=self.registry
        )
        for status in ("success", "failed", "reused"):
            self.builds.labels(status)

    def outcome(self, status: str, seconds: float) -> None:
        self.builds.labels(status).inc()
        self.duration.observe(seconds)

    def render(self, builder: Builder | None) -> bytes:
        from prometheus_client import generate_latest

        if builder is not None:
            self.queue.set(builder.counts.pending)
            self.in_flight.set(int(builder.in_flight is not None))
        return generate_latest(self.registry)


class CompilerService:
    """Owns the compiler's state while it runs under ``run_service``."""

    def __init__(self, config: CompilerServiceConfig) -> None:
        self.config = config
        self.address: str | None = None
        self.builder: Builder | None = None
        self.metrics = Metrics()

    def app(self) -> FastAPI:
        app = probe_app("cloacina-compiler")

        @app.get("/v1/status")
        async def status() -> dict[str, Any]:
            return self.status()

        @app.get("/metrics")
        async def metrics() -> Response:
            from prometheus_client import CONTENT_TYPE_LATEST

            body = self.metrics.render(self.builder)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return app

    def status(self) -> dict[str, Any]:
        rt = self.config.rt
        c = self.config
        queue = self.builder.status() if self.builder else {}
        return {
            "health": "healthy",
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
            **queue,
        }

    def _builder(self, config: CompilerServiceConfig) -> Builder:
        from cloacinactl.packages.compile import BuildLimits

        assert config.database_url is not None
        return Builder(
            home=config.home,
            database_url=config.database_url,
            tunables=Tunables(
                config.poll_interval_ms,
                config.heartbeat_interval_s,
                config.stale_threshold_s,
                config.sweep_interval_s,
            ),
            limits=BuildLimits(
                import_timeout_s=config.import_timeout_s,
                import_memory_mb=config.import_memory_mb,
                pip_timeout_s=config.pip_timeout_s,
            ),
            on_outcome=self.metrics.outcome,
        )

    async def serve(
        self,
        config: CompilerServiceConfig,
        *,
        task_status: trio.TaskStatus[dict[str, Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.config = config
        self.builder = self._builder(config)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.builder.run)
            self.address = await nursery.start(serve_http, self.app(), config.host, config.port)
            url = config.database_url
            logger.info(
                "compiler listening address={} database={}",
                self.address,
                url.redacted if url else None,
            )
            task_status.started({"address": self.address})

    async def drain(self) -> None:
        if self.builder is not None:
            await self.builder.drain()

    async def reload(self) -> LogFilter:
        """SIGHUP: re-read ``[compiler]`` in config.toml (intervals not given as flags,
        ``log_level``); a broken file is rejected and nothing changes."""
        from cloacinactl.config import load_config
        from cloacinactl.errors import CloacinaError

        path = self.config.home.config_file
        try:
            settings = await trio.to_thread.run_sync(load_config, self.config.home)
        except CloacinaError as exc:
            logger.error("compiler reload: {} rejected, nothing changed: {}", path, exc.message)
            return self._filter(None)
        section = settings.compiler
        tunables = tunables_from(self.config.flags, section)
        self.config = with_tunables(self.config, tunables)
        if self.builder is not None:
            self.builder.tunables = tunables
            self.builder.wake.set()
        logger.info("compiler reload: {} applied: {}", path, tunables)
        return self._filter(section.log_level)

    def _filter(self, configured: str | None) -> LogFilter:
        return resolve_filter(
            verbose=self.config.verbose, env=os.environ.get("RUST_LOG"), configured=configured
        )

    def status_line(self) -> str:
        return f"listening on {self.address}"

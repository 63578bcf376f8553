"""The server's per-process state: the control store, each tenant's store, the hooks.

One :class:`ServerState` per process, on ``app.state.server``; routes reach it
with :func:`state_of`. Tenant stores are opened (and migrated) when a tenant is
created or first seen in the database, and closed when it is deleted. Objects in
``tenant_listeners`` are told of every tenant that appears (all existing ones,
``public`` first, at start) and of every tenant removed, so each tenant's work
can start and stop without a restart.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import trio
from fastapi import Request
from loguru import logger

from cloacinactl.services.server.auth_cache import AuthCache
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.metrics import Metrics
from cloacinactl.services.server.middleware import LogLine
from cloacinactl.store import Store, drop_tenant
from cloacinactl.store import control as ctl

if TYPE_CHECKING:
    from cloacinactl.services.server.auth import Principal
    from cloacinactl.services.server.runtime import TenantRuntime
    from cloacinactl.services.server.serverruntime import ServerRuntime
    from cloacinactl.services.server.service import ServerServiceConfig


class TenantListener(Protocol):
    async def tenant_added(self, name: str, store: Store) -> None: ...

    async def tenant_removed(self, name: str) -> None: ...


@dataclass(frozen=True)
class TenantRemoval:
    name: str
    revoked_keys: int
    listeners_told: bool


class ServerState:
    """What every request of one server process shares."""

    def __init__(
        self, config: ServerServiceConfig, control: Store, *, metrics: Metrics | None = None
    ) -> None:
        self.config = config
        self.control = control
        self.stores: dict[str, Store] = {"public": control}
        self.tenant_listeners: list[TenantListener] = []
        self.auth_cache: AuthCache[Principal] = AuthCache()
        self.metrics = metrics or Metrics()
        self.started = time.monotonic()
        self.address: str | None = None
        # False until migrations ran and the bootstrap key exists: keyed routes answer 503
        self.ready = False
        # more fields for GET /v1/health/status (e.g. the runtime's workers)
        self.status_providers: list[Callable[[], Awaitable[dict[str, Any]]]] = []
        # an OpenTelemetry tracer when OTEL_EXPORTER_OTLP_ENDPOINT is set (otel.py), else None
        self.tracer: Any = None
        # the request line's writer (middleware.LogLine): the service's ServiceLogging.line
        # under the supervisor; None: through loguru
        self.request_log: LogLine | None = None
        # Ed25519 public keys uploads may be signed with (--trusted-key, config.toml's
        # server.trusted_keys; SIGHUP re-reads them)
        self.trusted_keys: tuple[Any, ...] = ()
        # each tenant's engine, schedules and graphs (components.run_runtime sets it)
        self.runtime: ServerRuntime | None = None
        # set when SIGTERM starts the drain: long-lived answers (event streams) end
        self.stopping = trio.Event()
        self._tenants_lock = trio.Lock()

    # -- tenants --------------------------------------------------------------------
    def tenant_store(self, name: str) -> Store:
        """The store of ``name``; 404 ``tenant_not_found`` when it does not exist here."""
        store = self.stores.get(name)
        if store is None:
            raise ApiError(404, "tenant_not_found", f"tenant {name!r} does not exist")
        return store

    def tenant_runtime(self, name: str) -> TenantRuntime:
        """The running engine of ``name``; 503 ``tenant_not_running`` while it starts or stops."""
        found = self.running_tenant(name)
        if found is None:
            raise ApiError(
                503, "tenant_not_running", f"tenant {name!r} is starting or stopping; retry"
            )
        return found

    def running_tenant(self, name: str) -> TenantRuntime | None:
        """The engine of ``name`` if it runs here now (404 for an unknown tenant). When it
        does not, a change written to the database reaches it as it starts."""
        self.tenant_store(name)
        found = self.runtime.tenants.get(name) if self.runtime is not None else None
        return found if found is not None and found.accepting else None

    async def ensure_tenant(self, name: str) -> Store:
        """The store of ``name``, opening it when another server created the tenant."""
        store = self.stores.get(name)
        if store is not None:
            return store
        row = await trio.to_thread.run_sync(self.control.read, lambda c: ctl.get_tenant(c, name))
        if row is None:
            raise ApiError(404, "tenant_not_found", f"tenant {name!r} does not exist")
        async with self._tenants_lock:
            if name not in self.stores:
                await self._open(name)
        return self.stores[name]

    async def load_tenants(self) -> None:
        """At start: open every recorded tenant and tell the listeners of each (public first)."""
        rows = await trio.to_thread.run_sync(self.control.read, ctl.list_tenants)
        for listener in self.tenant_listeners:
            await listener.tenant_added("public", self.control)
        async with self._tenants_lock:
            for row in rows:
                if row.name not in self.stores:
                    await self._open(row.name)

    async def sync_tenants(self) -> None:
        """Follow tenants other servers on the same database created or deleted."""
        rows = await trio.to_thread.run_sync(self.control.read, ctl.list_tenants)
        recorded = {row.name for row in rows} | {"public"}
        async with self._tenants_lock:
            for name in sorted(recorded - set(self.stores)):
                await self._open(name)
            for name in sorted(set(self.stores) - recorded):
                await self._close(name)

    async def create_tenant(self, name: str, description: str | None) -> ctl.TenantRow:
        """Record the tenant, create its schema / file with all migrations, start its work.

        409 ``tenant_exists`` when it exists; on a storage failure the record is
        removed again so nothing half-made stays behind.
        """
        async with self._tenants_lock:
            row = await trio.to_thread.run_sync(
                self.control.write, lambda c: ctl.insert_tenant(c, name, description, ctl.utcnow())
            )
            if row is None or name in self.stores:
                raise ApiError(409, "tenant_exists", f"tenant {name!r} already exists")
            try:
                await self._open(name)
            except BaseException:
                await trio.to_thread.run_sync(
                    self.control.write, lambda c: ctl.delete_tenant(c, name)
                )
                raise
            logger.info("tenant created tenant={}", name)
            return row

    async def delete_tenant(self, name: str) -> TenantRemoval:
        """Refuse its new requests, revoke its keys, stop its work, drop its data."""
        async with self._tenants_lock:
            exists = await trio.to_thread.run_sync(
                self.control.read, lambda c: ctl.get_tenant(c, name)
            )
            if exists is None and name not in self.stores:
                raise ApiError(404, "tenant_not_found", f"tenant {name!r} does not exist")
            revoked = await trio.to_thread.run_sync(
                self.control.write, lambda c: ctl.revoke_tenant_keys(c, name, ctl.utcnow())
            )
            self.auth_cache.clear()
            told = await self._close(name)
            url = self.control.base_url.original
            await trio.to_thread.run_sync(drop_tenant, url, name)
            await trio.to_thread.run_sync(self.control.write, lambda c: ctl.delete_tenant(c, name))
            logger.info("tenant deleted tenant={} revoked_keys={}", name, revoked)
            return TenantRemoval(name, revoked, told)

    async def _open(self, name: str) -> None:
        store = Store(self.control.base_url, tenant=name)
        try:
            await trio.to_thread.run_sync(store.migrate)
        except BaseException:
            store.close()
            raise
        self.stores[name] = store
        for listener in self.tenant_listeners:
            await listener.tenant_added(name, store)

    async def _close(self, name: str) -> bool:
        store = self.stores.pop(name, None)
        if store is None:
            return False
        for listener in self.tenant_listeners:
            try:
                await listener.tenant_removed(name)
            except Exception as exc:  # one listener's failure must not keep the tenant alive
                logger.opt(exception=exc).error("tenant_removed failed tenant={}", name)
        store.close()
        return True

    def close(self) -> None:
        for name, store in list(self.stores.items()):
            if name != "public":
                store.close()
        self.stores = {"public": self.control}


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state

"""Every tenant's engine on this server: one :class:`TenantRuntime` per tenant.

``ServerRuntime`` is a ``tenant_listeners`` entry: a tenant that exists at start
or is created at run time gets a :class:`TenantRuntime`; a deleted one is
drained (in-flight tasks get ``drain_timeout_s``, then their claims are handed
back), its schedules stop and its worker processes exit, without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.config.schema import DaemonConfig
from cloacinactl.errors import NotFoundError
from cloacinactl.services.server.buildtrust import BuildTrust
from cloacinactl.services.server.runtime import FinishedHook, TenantRuntime
from cloacinactl.store import Store
from cloacinactl.store.secrets import Vault


def default_workers() -> int:
    return max(2, os.cpu_count() or 1)


class ServerRuntime:
    """Runs a :class:`TenantRuntime` per tenant (a ``tenant_listeners`` entry)."""

    def __init__(
        self,
        cache_root: Path,
        *,
        workers: int | None = None,
        reconcile_interval_s: float = 30.0,
        drain_timeout_s: float = 30.0,
        settings: DaemonConfig | None = None,
        secret_kek: bytes | None = None,
        on_finished: FinishedHook | None = None,
        trust: BuildTrust | None = None,
    ) -> None:
        self.cache_root = cache_root
        self.trust = trust  # checks compiler artifacts before a tenant loads them
        self.on_finished = on_finished
        # secrets: each tenant's tasks open its secrets with this KEK (None: none)
        self.vault = None if secret_kek is None else Vault(secret_kek)
        self.workers = workers or default_workers()
        self.reconcile_interval_s = reconcile_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.settings = settings or DaemonConfig()
        self.tenants: dict[str, TenantRuntime] = {}
        self._nursery: trio.Nursery | None = None
        self._early: list[tuple[str, Store]] = []

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Hold the tenants' nursery until cancelled (tenants are added by the hooks)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                early, self._early = self._early, []
                for name, store in early:
                    await self.tenant_added(name, store)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None

    def tenant(self, name: str) -> TenantRuntime:
        found = self.tenants.get(name)
        if found is None or not found.accepting:
            raise NotFoundError(f"tenant {name!r} is not running")
        return found

    async def tenant_added(self, name: str, store: Store) -> None:
        if self._nursery is None:
            self._early.append((name, store))
            return
        if name in self.tenants:
            return
        runtime = TenantRuntime(
            name,
            store,
            self.cache_root / name,
            workers=self.workers,
            reconcile_interval_s=self.reconcile_interval_s,
            drain_timeout_s=self.drain_timeout_s,
            settings=self.settings,
            secrets=None if self.vault is None else self.vault.source(name),
            on_finished=self.on_finished,
            trust=self.trust,
        )
        self.tenants[name] = runtime
        try:
            await self._nursery.start(runtime.serve)
        except BaseException:
            self.tenants.pop(name, None)
            raise

    async def tenant_removed(self, name: str) -> None:
        runtime = self.tenants.pop(name, None)
        if runtime is not None:
            await runtime.stop()
            logger.info("tenant stopped tenant={}", name)

    async def drain(self) -> None:
        """Server shutdown: drain every tenant at once."""
        async with trio.open_nursery() as nursery:
            for name in list(self.tenants):
                nursery.start_soon(self.tenant_removed, name)

    def status(self) -> dict[str, Any]:
        return {name: t.status() for name, t in sorted(self.tenants.items())}

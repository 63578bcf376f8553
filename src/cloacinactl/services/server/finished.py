"""Executions that finished on this server, collected per tenant for work done off the
engine's hot path (metrics, trace spans): the engine's ``on_finished`` listener only
remembers ids; a background task takes them in batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio


class FinishedQueue:
    """Ids of finished executions per tenant, taken in batches."""

    def __init__(self) -> None:
        self._pending: dict[str, list[str]] = {}
        self._wake = trio.Event()

    def finished(self, tenant: str, done: Mapping[str, Any]) -> None:
        """An engine's ``on_finished`` listener (sync, cheap): remember the ids."""
        self._pending.setdefault(tenant, []).extend(done)
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Until an execution finishes or ``timeout`` seconds pass."""
        with trio.move_on_after(timeout):
            await self._wake.wait()
        self._wake = trio.Event()

    def take(self) -> dict[str, list[str]]:
        """Every id remembered so far, by tenant (and forget them)."""
        pending, self._pending = self._pending, {}
        return {tenant: ids for tenant, ids in pending.items() if ids}

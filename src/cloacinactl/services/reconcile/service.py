"""The reconcile service: watcher + reconciler + the loop between them.

``serve`` runs the initial pass *before* reporting started (the daemon's
startup order: initial reconcile, then health socket, then READY), then
reconciles on every request from the watcher. A pass that found files still
being written asks for another pass once they will have settled.
``update_watch_dirs`` is the SIGHUP hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Generic

import trio
from loguru import logger

from cloacinactl.services.reconcile.interfaces import P
from cloacinactl.services.reconcile.reconciler import PassReport, Reconciler
from cloacinactl.services.reconcile.watcher import PackageWatcher, request
from cloacinactl.services.reconcile.watchset import diff_watch_dirs


class ReconcileService(Generic[P]):
    """Keeps a Reconciler in step with the watch folders."""

    def __init__(
        self,
        reconciler: Reconciler[P],
        dirs: Sequence[Path],
        *,
        debounce_s: float = 0.5,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.reconciler = reconciler
        self._send, self._receive = trio.open_memory_channel[str](1)
        self.watcher = PackageWatcher(
            dirs, self._send, debounce_s=debounce_s, poll_interval_s=poll_interval_s
        )
        self.last_report: PassReport | None = None
        self.passes = 0

    @property
    def dirs(self) -> tuple[Path, ...]:
        return self.watcher.dirs

    def update_watch_dirs(self, dirs: Sequence[Path]) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        """Apply a new watch set (SIGHUP); returns (added, removed). A pass runs at once:
        an added folder is scanned, a removed folder's packages are unloaded."""
        added, removed = diff_watch_dirs(self.watcher.dirs, dirs)
        if added or removed:
            logger.info("watch set changed added={} removed={}", added, removed)
        self.watcher.set_dirs(dirs)
        return added, removed

    def request_reconcile(self, reason: str = "manual") -> None:
        request(self._send, reason)

    async def reconcile_now(self) -> PassReport:
        report = await self.reconciler.reconcile(self.watcher.dirs)
        self.last_report = report
        self.passes += 1
        return report

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            report = await self.reconcile_now()
            logger.info(
                "initial reconciliation loaded={} failed={} duration_ms={:.1f}",
                len(report.loaded),
                len(report.failed),
                report.duration_s * 1000,
            )
            self._recheck(nursery, report)
            await nursery.start(self.watcher.serve)
            task_status.started()
            async for _reason in self._receive:
                report = await self.reconcile_now()
                self._recheck(nursery, report)

    def _recheck(self, nursery: trio.Nursery, report: PassReport) -> None:
        if report.recheck_after_s is None:
            return

        async def later(delay: float) -> None:
            await trio.sleep(delay)
            request(self._send, "settled")

        nursery.start_soon(later, report.recheck_after_s + 0.01)

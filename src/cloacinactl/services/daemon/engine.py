"""The daemon's scheduling workload: worker pool, engine, cron + poll schedulers, reconciler.

Started by ``DaemonService`` after the store is open, in the reference's order:
worker pool, engine ``Runner`` (recovers what a killed predecessor left
running), cron and poll schedulers (intervals from ``[daemon]``), then the
reconcile service, whose initial pass loads the packages already in the watch
folders before ``serve`` reports started (so READY means "packages loaded").

Drain (SIGINT/SIGTERM): the schedulers and the watcher stop first (no new
executions), then the engine finishes in-flight tasks up to
``shutdown_timeout_s``; unfinished claims go back to Ready, so the next start
picks them up. SIGHUP: ``reload`` applies the new watch set and intervals and
asks for a reconcile.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from cloacinactl.config.schema import DaemonConfig
from cloacinactl.engine.graphs import GraphRuntime
from cloacinactl.engine.graphs.feed import feed_socket_path, serve_feed_socket
from cloacinactl.engine.pooled import PoolTaskRunner
from cloacinactl.engine.runner import ExecutionResult, Runner
from cloacinactl.engine.schedules import CronConfig, CronScheduler, PollScheduler
from cloacinactl.engine.secretsource import FileSecrets
from cloacinactl.packages import LoadedPackage, PackageLoader
from cloacinactl.services.daemon.adapters import PoolPoller, RunnerStarter
from cloacinactl.services.daemon.book import PollTarget, ScheduleBook
from cloacinactl.services.daemon.host import DaemonHost
from cloacinactl.services.daemon.rows import execution_counts
from cloacinactl.services.reconcile import Reconciler, ReconcileService
from cloacinactl.store import Store
from cloacinactl.store.cronslots import CronSlots
from cloacinactl.workers import WorkerPool
from cloacinactl.workflow.states import ACTIVE_STATUSES

if TYPE_CHECKING:
    from cloacinactl.services.daemon.service import DaemonService

POLL_TIMEOUT_S = 30.0
IMPORT_TIMEOUT_S = 30.0


def cron_config(settings: DaemonConfig) -> CronConfig:
    return CronConfig(
        max_catchup=settings.cron_max_catchup,
        recovery_interval_s=float(settings.cron_recovery_interval_s),
        lost_threshold_min=float(settings.cron_lost_threshold_min),
    )


def pool_size() -> int:
    return max(2, os.cpu_count() or 1)


class SchedulerWorkload:
    """Everything that makes the daemon run workflows (a ``Workload``)."""

    def __init__(self, *, workers: int | None = None) -> None:
        self.workers = workers or pool_size()
        self.store: Store | None = None
        self.pool: WorkerPool | None = None
        self.runner: Runner | None = None
        self.cron: CronScheduler | None = None
        self.poll: PollScheduler | None = None
        self.book: ScheduleBook | None = None
        self.host: DaemonHost | None = None
        self.reconcile: ReconcileService[LoadedPackage] | None = None
        self.graphs: GraphRuntime | None = None
        self._graph_scope = trio.CancelScope()
        self._schedulers = trio.CancelScope()
        self.shutdown_timeout_s = 30.0

    async def serve(
        self,
        daemon: DaemonService,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        config = daemon.config
        settings = config.settings.daemon
        store = self.store = daemon.store
        self.shutdown_timeout_s = config.shutdown_timeout_s
        # ps shows "cloacina-daemon: worker 1"
        pool = WorkerPool(
            self.workers,
            service="cloacina-daemon",
            memory_limit_mb=config.worker_memory_limit_mb,
        )
        runner = Runner(
            config.home.database_url,
            store=store,
            workers=self.workers,
            task_runner=PoolTaskRunner(pool),
            service="cloacina-daemon",
            secrets=None if config.secrets_file is None else FileSecrets(config.secrets_file),
        )
        self.pool, self.runner = pool, runner
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.serve)
            await nursery.start(runner.serve)
            graphs = self.graphs = GraphRuntime(store, pool)
            await nursery.start(self._serve_graphs, graphs, config.home.root)
            targets: dict[str, PollTarget] = {}
            self.cron = CronScheduler(
                CronSlots(store, claimant_id=runner.executor.me.claimant_id),
                RunnerStarter(runner, "cron"),
                cron_config(settings),
            )
            starter = RunnerStarter(runner, "trigger")
            self.poll = PollScheduler(
                PoolPoller(pool, targets),
                starter,
                tracker=starter,
                base_interval_s=settings.trigger_poll_interval_ms / 1000.0,
                poll_timeout_s=POLL_TIMEOUT_S,
            )
            poll = self.poll

            def release(done: Mapping[str, ExecutionResult | None]) -> None:
                # allow_concurrent=False triggers are released the moment their run ends
                for execution_id, result in done.items():
                    poll.execution_finished(execution_id)
                    if result is not None:
                        logger.info(
                            "execution finished workflow={} status={} execution_id={}",
                            result.workflow,
                            result.status,
                            execution_id,
                        )

            runner.executor.on_finished(release)
            self.book = ScheduleBook(store, self.cron, self.poll, targets)
            loader = PackageLoader(
                config.home.root / "cache" / "packages", import_timeout=IMPORT_TIMEOUT_S
            )
            self.host = DaemonHost(loader, runner, pool, graphs)
            debounce_s = settings.watcher_debounce_ms / 1000.0
            self.reconcile = ReconcileService(
                Reconciler(self.host, self.book, settle_s=debounce_s),
                daemon.watch_dirs,
                debounce_s=debounce_s,
                poll_interval_s=config.poll_interval_ms / 1000.0,
            )
            await nursery.start(self._serve_schedulers)
            task_status.started()

    async def _serve_schedulers(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        assert self.cron is not None and self.poll is not None and self.reconcile is not None
        with self._schedulers:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.cron.serve)
                await nursery.start(self.poll.serve)
                await nursery.start(self.reconcile.serve)
                task_status.started()

    async def _serve_graphs(
        self,
        graphs: GraphRuntime,
        home: Path,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with self._graph_scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(graphs.serve)
                # <home>/graphs.sock: `graph inject --daemon` feeds the accumulators
                await nursery.start(serve_feed_socket, feed_socket_path(home), graphs)
                task_status.started()

    async def reload(self, daemon: DaemonService) -> None:
        settings = daemon.config.settings.daemon
        self.shutdown_timeout_s = daemon.config.shutdown_timeout_s
        if self.cron is not None:
            self.cron.config = cron_config(settings)
        if self.poll is not None:
            self.poll.base_interval_s = settings.trigger_poll_interval_ms / 1000.0
        svc = self.reconcile
        if svc is None:
            return
        debounce_s = settings.watcher_debounce_ms / 1000.0
        svc.reconciler.settle_s = debounce_s
        svc.watcher.debounce_s = debounce_s
        svc.watcher.poll_interval_s = daemon.config.poll_interval_ms / 1000.0
        svc.update_watch_dirs(daemon.watch_dirs)
        svc.request_reconcile("reload")

    async def drain(self) -> None:
        """Stop firing and watching, then finish in-flight tasks (bounded)."""
        self._schedulers.cancel()
        self._graph_scope.cancel()  # a fire in flight is re-run from its events next start
        if self.runner is not None:
            drained = await self.runner.ashutdown(self.shutdown_timeout_s)
            logger.info("engine drained complete={}", drained)
        if self.pool is not None:
            await self.pool.stop()

    async def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        svc = self.reconcile
        if svc is not None:
            rec = svc.reconciler.status()
            body["reconciler"] = {
                "packages_loaded": rec.packages_loaded,
                "last_run_at": rec.last_run_at.isoformat() if rec.last_run_at else None,
                "last_duration_ms": (
                    None if rec.last_duration_s is None else round(rec.last_duration_s * 1000, 3)
                ),
                "runs": rec.runs,
                "packages": rec.packages,
            }
            body["errors"] = rec.errors
        if self.host is not None:
            body["workflows"] = self.host.workflow_names()
        if self.store is not None:
            counts = await trio.to_thread.run_sync(self.store.read, execution_counts)
            body["active_workflows"] = sum(counts.get(s, 0) for s in ACTIVE_STATUSES)
            body["executions"] = counts
        if self.cron is not None and self.poll is not None:
            nxt = self.cron.next_fire_at()
            body["schedules"] = {
                "cron": len(self.cron.schedules()),
                "poll": len(self.poll.triggers()),
                "next_cron_at": nxt.isoformat() if nxt else None,
                "cron_stats": vars(self.cron.stats),
                "poll_stats": vars(self.poll.stats),
                "held_triggers": len(self.poll.held()),
            }
        if self.graphs is not None:
            body["graphs"] = self.graphs.summary()
            body["graph_health"] = {
                "graphs": self.graphs.graphs(),
                "reactors": self.graphs.reactors(),
                "accumulators": self.graphs.accumulators(),
            }
        if self.pool is not None:
            stats = self.pool.stats()
            keys = ("workers", "ready", "busy", "queued", "memory_limit_mb")
            body["workers"] = {k: stats[k] for k in keys}
        return body

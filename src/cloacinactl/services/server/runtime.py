"""Each tenant's engine inside the server: workers, ``Runner``, schedules, reconciler.

A :class:`TenantRuntime` runs while its tenant exists (``serverruntime.py``
starts and stops one per tenant); ``stop`` drains it: in-flight tasks get
``drain_timeout_s``, then their claims are handed back, its schedules stop and
its worker processes exit.

Each tenant has its **own worker pool**: a package's code runs only in processes
of the tenant that uploaded it, so no tenant's code shares a process (module
state, a secret in memory) with another's, and deleting a tenant frees exactly
its processes. The cost is ``workers`` processes per tenant.

A tenant's packages come from the database: every ``reconcile_interval_s``, at
once after an upload here, and within about a second of any stored change (an
upload to another server, a finished build, a pause), its stored archives are
mirrored into ``<cache>/<tenant>/archives`` and the daemon's reconciler loads,
reloads and unloads them, so a package uploaded to any server runs on all.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.config.schema import DaemonConfig
from cloacinactl.engine.graphs import GraphRuntime
from cloacinactl.engine.runner import ExecutionResult, Runner
from cloacinactl.engine.secretsource import SecretSource
from cloacinactl.errors import NotFoundError
from cloacinactl.packages import LoadedPackage, PackageLoader
from cloacinactl.services.daemon.adapters import PoolPoller, RunnerStarter
from cloacinactl.services.daemon.book import PollTarget, ScheduleBook
from cloacinactl.services.daemon.engine import IMPORT_TIMEOUT_S, POLL_TIMEOUT_S, cron_config
from cloacinactl.services.reconcile import PassReport, Reconciler
from cloacinactl.services.server.buildtrust import BuildTrust
from cloacinactl.services.server.host import (
    LocalRootRunner,
    PausableCron,
    PausablePoll,
    ServerHost,
    ServerSchedules,
)
from cloacinactl.services.server.mirror import ArchiveMirror
from cloacinactl.store import Store
from cloacinactl.store.cronslots import CronSlots
from cloacinactl.store.packages import change_marker
from cloacinactl.workers import WorkerPool
from cloacinactl.workflow.model import WorkflowDef

SERVICE = "cloacina-server"
# told (tenant, {execution id: result or None}) when executions finish on this server
FinishedHook = Callable[[str, Mapping[str, Any]], None]
# how often each tenant checks whether the stored packages changed (cheap: one query)
CHANGE_CHECK_S = 1.0
# the longest a claimed task waits for its package to be loaded here
ENSURE_TIMEOUT_S = 60.0


class TenantRuntime:
    """One tenant's engine; ``serve`` runs it until ``stop`` (or cancellation)."""

    def __init__(
        self,
        name: str,
        store: Store,
        cache_dir: Path,
        *,
        workers: int,
        reconcile_interval_s: float,
        drain_timeout_s: float,
        settings: DaemonConfig,
        secrets: SecretSource | None = None,
        on_finished: FinishedHook | None = None,
        trust: BuildTrust | None = None,
    ) -> None:
        self.name = name
        self.on_finished = on_finished  # told (tenant, {execution id: result}) after runs end here
        self.secrets = secrets  # secrets: where tasks' secret slots get their values
        self.store = store
        self.cache_dir = cache_dir
        self.workers = workers
        self.reconcile_interval_s = reconcile_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.settings = settings
        self.pool: WorkerPool | None = None
        self.runner: Runner | None = None
        self.host: ServerHost | None = None
        self.schedules: ServerSchedules | None = None
        self.graphs: GraphRuntime | None = None  # this tenant's computation graphs
        self.reconciler: Reconciler[LoadedPackage] | None = None
        self.mirror = ArchiveMirror(store, cache_dir / "archives", trust)
        self.last_report: PassReport | None = None
        self._roots: dict[str, str] = {}  # package identity id -> extracted folder here
        # workflow name -> definition of what is loaded here (refreshed by each reconcile)
        self._definitions: dict[str, WorkflowDef] = {}
        self.accepting = False
        self._scope = trio.CancelScope()
        self._schedulers = trio.CancelScope()
        self._wake = trio.Event()
        self._stopped = trio.Event()
        self._lock = trio.Lock()

    # -- running -------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with self._scope:
                await self._serve(task_status)
        finally:
            self.accepting = False
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._remove_cache)
            self._stopped.set()

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        store = self.store
        pool = self.pool = WorkerPool(self.workers, service=SERVICE)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.serve)
            loader = PackageLoader(self.cache_dir / "packages", import_timeout=IMPORT_TIMEOUT_S)
            roots = self._roots  # filled by the host, read by the task runner
            runner = Runner(
                store.url.original,
                tenant=self.name,
                store=store,
                workers=self.workers,
                task_runner=LocalRootRunner(pool, roots, self._ensure_loaded),
                service=SERVICE,
                secrets=self.secrets,
            )
            self.runner = runner
            host = self.host = ServerHost(loader, runner, pool, roots)
            graphs = self.graphs = GraphRuntime(store, pool)
            graphs.tenant = self.name
            await nursery.start(graphs.serve)
            host.graphs = graphs
            await nursery.start(runner.serve)
            targets: dict[str, PollTarget] = {}
            cron = PausableCron(
                CronSlots(store, claimant_id=runner.executor.me.claimant_id),
                RunnerStarter(runner, "cron"),
                cron_config(self.settings),
            )
            starter = RunnerStarter(runner, "trigger")
            poll = PausablePoll(
                PoolPoller(pool, targets),
                starter,
                tracker=starter,
                base_interval_s=self.settings.trigger_poll_interval_ms / 1000.0,
                poll_timeout_s=POLL_TIMEOUT_S,
            )

            def release(done: Mapping[str, ExecutionResult | None]) -> None:
                for execution_id in done:
                    poll.execution_finished(execution_id)

            runner.executor.on_finished(release)
            hook = self.on_finished
            if hook is not None:
                runner.executor.on_finished(lambda done: hook(self.name, done))
            book = ScheduleBook(store, cron, poll, targets)
            self.schedules = ServerSchedules(book, store)
            self.reconciler = Reconciler(host, self.schedules, settle_s=0.0)
            await self.reconcile()
            nursery.start_soon(self._serve_schedulers, cron, poll)
            nursery.start_soon(self._tick)
            self.accepting = True
            logger.info(
                "tenant running tenant={} workers={} packages={}",
                self.name,
                self.workers,
                len(host.packages()),
            )
            task_status.started()

    async def _serve_schedulers(self, cron: PausableCron, poll: PausablePoll) -> None:
        with self._schedulers:
            async with trio.open_nursery() as nursery:
                await nursery.start(cron.serve)
                await nursery.start(poll.serve)

    async def _tick(self) -> None:
        """Reconcile every ``reconcile_interval_s``, when woken, and within about
        ``CHANGE_CHECK_S`` of another server (or the compiler) changing what is stored."""
        seen = await self._marker()
        while True:
            deadline = trio.current_time() + self.reconcile_interval_s
            while not self._wake.is_set() and trio.current_time() < deadline:
                with trio.move_on_after(min(CHANGE_CHECK_S, deadline - trio.current_time())):
                    await self._wake.wait()
                if not self._wake.is_set() and await self._marker() != seen:
                    break
            self._wake = trio.Event()
            try:
                seen = await self._marker()
                await self.reconcile()
            except Exception:
                logger.exception("reconcile failed tenant={}", self.name)

    async def _marker(self) -> tuple[Any, ...] | None:
        try:
            marker: tuple[Any, ...] = await trio.to_thread.run_sync(self.store.read, change_marker)
        except Exception as exc:  # the database may be briefly away: the next check retries
            logger.debug("change check failed tenant={}: {}", self.name, exc)
            return None
        return marker

    async def reconcile(self) -> PassReport:
        """Mirror the stored archives, then load/unload them; sync paused schedules."""
        async with self._lock:
            return await self._reconcile()

    async def _reconcile(self) -> PassReport:
        assert self.reconciler is not None and self.schedules is not None
        await trio.to_thread.run_sync(self.mirror.sync)
        report = await self.reconciler.reconcile([self.mirror.folder])
        await self.schedules.refresh_paused()
        self.last_report = report
        self._definitions = self._loaded_definitions()
        return report

    async def _ensure_loaded(self, package_id: str) -> bool:
        """The task runner's question for a package not loaded here: reconcile once
        (after the one running, if any) and say whether it is loaded now."""
        async with self._lock:
            if package_id not in self._roots and self.reconciler is not None:
                with trio.move_on_after(ENSURE_TIMEOUT_S):
                    await self._reconcile()
        return package_id in self._roots

    def _loaded_definitions(self) -> dict[str, WorkflowDef]:
        host = self.host
        packages = host.packages() if host is not None else []
        return {wf.name: wf for package in packages for wf in package.workflows()}

    def request_reconcile(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Refuse new work, stop firing, drain in-flight tasks (bounded), stop workers."""
        self.accepting = False
        self._schedulers.cancel()
        if self.runner is not None:
            try:
                drained = await self.runner.ashutdown(self.drain_timeout_s)
                logger.info("tenant drained tenant={} complete={}", self.name, drained)
            except Exception:
                logger.exception("draining tenant failed tenant={}", self.name)
        if self.pool is not None:
            await self.pool.stop()
        self._scope.cancel()
        await self._stopped.wait()

    def _remove_cache(self) -> None:
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    # -- work ----------------------------------------------------------------------

    def _live_runner(self) -> Runner:
        if not self.accepting or self.runner is None:
            raise NotFoundError(f"tenant {self.name!r} is not running")
        return self.runner

    async def execute(
        self,
        workflow: str,
        context: Mapping[str, Any],
        *,
        origin: str = "manual",
        trace_parent: str | None = None,
    ) -> str:
        """Start ``workflow``; NotFoundError if unknown, UserError if paused."""
        return await self._live_runner().start_execution(
            workflow, context, origin=origin, trace_parent=trace_parent
        )

    async def fire(
        self,
        workflow: str,
        trigger: str,
        event: Mapping[str, Any],
        *,
        trace_parent: str | None = None,
    ) -> str:
        """A manual fire of a trigger: its payload plus the trigger's name and time."""
        context = {
            **event,
            "trigger_name": trigger,
            "triggered_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        return await self.execute(workflow, context, origin="manual", trace_parent=trace_parent)

    async def definition(self, name: str) -> WorkflowDef | None:
        """The loaded definition of workflow ``name`` here; a name not loaded yet gets
        one reconcile first (stored or built elsewhere moments ago). None: not loaded."""
        found = self._definitions.get(name)
        if found is None:
            await self.reconcile()
            found = self._definitions.get(name)
        return found

    def load_error(self, package_id: str) -> str | None:
        """Why the stored package ``package_id`` failed to load here (None: it did not)."""
        refused = self.mirror.refused.get(package_id)
        if refused is not None or self.reconciler is None:
            return refused
        return self.reconciler.errors().get(self.mirror.path_of(package_id))

    def forget_workflow(self, name: str) -> None:
        """A pause or resume here is seen by the next execute at once."""
        if self.runner is not None:
            self.runner.executor.defs.forget_active(name)

    def status(self) -> dict[str, Any]:
        host = self.host
        return {
            "running": self.accepting,
            "packages_loaded": len(host.packages()) if host is not None else 0,
            "workflows": host.workflow_names() if host is not None else [],
            "errors": {
                **(
                    {Path(p).name: e for p, e in self.reconciler.errors().items()}
                    if self.reconciler is not None
                    else {}
                ),
                **{self.mirror.path_of(pid).name: e for pid, e in self.mirror.refused.items()},
            },
            "workers": self.workers,
        }

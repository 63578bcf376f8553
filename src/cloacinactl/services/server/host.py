"""What the server changes in the daemon's reconcile pieces.

- ``ServerHost``: the package row already exists (the upload wrote it, maybe on
  another server), so loading registers the workflows against that row instead
  of upserting one; it also remembers where each package is extracted here.
- ``LocalRootRunner``: a workflow's stored code location names the folder of the
  server that registered it last; each server runs tasks from its own copy.
- ``ServerSchedules``: the database decides what is orphaned (a package that is
  no longer stored), never a failed load on one server; paused schedules are
  kept out of this server's cron and poll schedulers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import trio

from cloacinactl.engine.pooled import PoolTaskRunner
from cloacinactl.engine.schedules import CronSchedule, CronScheduler, PollScheduler, PollTrigger
from cloacinactl.engine.taskrun import TaskOutcome, TaskRequest
from cloacinactl.packages import LoadedPackage
from cloacinactl.services.daemon.book import ScheduleBook
from cloacinactl.services.daemon.host import DaemonHost
from cloacinactl.store import Store
from cloacinactl.store.archives import loadable_archives
from cloacinactl.store.triggers import paused_schedule_ids
from cloacinactl.workers import Source, source_from_dict

Item = TypeVar("Item")


class ServerHost(DaemonHost):
    """Registers a mirrored archive's workflows against its stored package row."""

    def __init__(self, loader: Any, runner: Any, pool: Any, roots: dict[str, str]) -> None:
        super().__init__(loader, runner, pool)
        self.roots = roots  # identity id -> extracted root here (shared with the runner)

    async def _register(self, package: LoadedPackage, path: Path) -> None:
        package_id = path.name.removesuffix(".cloacina")
        source = package.source()
        if self.graphs is not None:  # graphs: the package's computation graphs
            await self.graphs.add_package(
                package.identity.name, source_from_dict(source), package.description
            )
        for workflow in package.workflows():
            await self.runner.aregister(workflow, code=source, package_id=package_id)
        self.roots[package.identity.id] = str(package.root)

    async def unload(self, package: LoadedPackage) -> None:
        """Forget the package here only: its rows belong to the database (a deleted
        package's workflows were deactivated by the delete, a superseded version's by
        the newer one's registration), and other servers may still run it."""
        if self.roots.get(package.identity.id) == str(package.root):
            del self.roots[package.identity.id]
        name = package.identity.name
        if self._by_name.get(name) is package:
            del self._by_name[name]
            if self.graphs is not None:
                await self.graphs.remove_package(name)
            for wf in package.workflows():
                self.runner.executor.defs.forget_active(wf.name)
        await self._drop_tree(package)


class LocalRootRunner(PoolTaskRunner):
    """Runs package tasks from this server's extracted copy of the package.

    A task of a package not loaded here yet (this server has just started, or
    another server stored the package a moment ago and claimed tasks are faster
    than the next reconcile) first waits for ``ensure(package_id)`` to load it:
    it never runs from another server's folder, which may be half written, gone,
    or on another host. A package that still is not here runs from its stored
    folder when that exists on this host (a deleted package's in-flight runs),
    else the attempt fails as ``load_failed`` saying so.
    """

    def __init__(
        self,
        pool: Any,
        roots: dict[str, str],
        ensure: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        super().__init__(pool)
        self.roots = roots
        self.ensure = ensure
        self._local: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        refusal = await self._not_here(request)
        if refusal is not None:
            return refusal
        return await super().run_task(request)

    async def run_tasks(
        self, requests: Sequence[TaskRequest], deliver: Callable[[int, TaskOutcome], None]
    ) -> None:
        runnable: list[int] = []
        for index, request in enumerate(requests):
            refusal = await self._not_here(request)
            if refusal is None:
                runnable.append(index)
            else:
                deliver(index, refusal)
        await super().run_tasks(
            [requests[i] for i in runnable], lambda i, outcome: deliver(runnable[i], outcome)
        )

    async def _not_here(self, request: TaskRequest) -> TaskOutcome | None:
        """None when the request's code can run here (after loading its package)."""
        code = request.code
        if code.get("kind") != "package" or self.ensure is None:
            return None
        package_id = str(code.get("package_id"))
        if package_id in self.roots or await self.ensure(package_id):
            return None
        if Path(str(code.get("root", ""))).is_dir():
            return None
        return TaskOutcome.failure(
            "load_failed", f"package {package_id} is not loaded on this server"
        )

    def _source(self, code: dict[str, Any]) -> Source:
        if code.get("kind") == "package":
            root = self.roots.get(str(code.get("package_id")))
            if root is not None and code.get("root") != root:
                memo = self._local.get(id(code))
                if memo is None or memo[0] is not code or memo[1]["root"] != root:
                    if len(self._local) > 1024:
                        self._local.clear()
                    memo = (code, {**code, "root": root})
                    self._local[id(code)] = memo
                code = memo[1]
        return super()._source(code)


class PauseFilter(Generic[Item]):
    """What each package declares, and which of it is paused (schedule ids)."""

    def __init__(self, key: Callable[[Item], str]) -> None:
        self.key = key
        self.paused: set[str] = set()
        self.declared: dict[str, list[Item]] = {}

    def keep(self, package: str, items: Iterable[Item]) -> list[Item]:
        """Remember ``items`` as ``package``'s and return the unpaused ones."""
        self.declared[package] = list(items)
        return [i for i in self.declared[package] if self.key(i) not in self.paused]

    def update(self, paused: set[str]) -> list[tuple[str, list[Item]]]:
        """Set the paused ids; returns the packages to hand to the scheduler again."""
        if paused == self.paused:
            return []
        self.paused = set(paused)
        return list(self.declared.items())


class PausableCron(CronScheduler):
    """A cron scheduler that leaves paused schedules out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pauses = PauseFilter[CronSchedule](lambda s: s.schedule_id)

    def set_package(self, package: str, schedules: Iterable[CronSchedule]) -> None:
        super().set_package(package, self.pauses.keep(package, schedules))

    def set_paused(self, paused: set[str]) -> None:
        for package, items in self.pauses.update(paused):
            self.set_package(package, items)


class PausablePoll(PollScheduler):
    """A poll scheduler that leaves paused triggers out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pauses = PauseFilter[PollTrigger](lambda t: t.trigger_id)

    def set_package(self, package: str, triggers: Iterable[PollTrigger]) -> None:
        super().set_package(package, self.pauses.keep(package, triggers))

    def set_paused(self, paused: set[str]) -> None:
        for package, items in self.pauses.update(paused):
            self.set_package(package, items)


class ServerSchedules:
    """The reconciler's ``ScheduleRegistry`` for one tenant of the server."""

    def __init__(self, book: ScheduleBook, store: Store) -> None:
        self.book = book
        self.store = store

    async def register(self, package: LoadedPackage) -> None:
        await self.book.register(package)

    async def unregister(self, package_name: str) -> None:
        """Stop firing ``package_name``'s schedules here; retire its rows only when no
        stored archive provides it any more (another server may be registering it)."""
        if package_name in await self._stored_names():
            self.book.cron.remove_package(package_name)
            self.book.poll.remove_package(package_name)
            self.book._drop_targets(package_name, keep=set())
        else:
            await self.book.unregister(package_name)

    async def _stored_names(self) -> set[str]:
        stored = await trio.to_thread.run_sync(self.store.read, loadable_archives)
        return {a.name for a in stored}

    async def known_packages(self) -> set[str]:
        """Packages with schedules or active workflows that no stored archive provides."""
        used = await self.book.known_packages()
        return used - await self._stored_names()

    async def refresh_paused(self) -> None:
        paused = await trio.to_thread.run_sync(self.store.read, paused_schedule_ids)
        for scheduler in (self.book.cron, self.book.poll):
            if isinstance(scheduler, PausableCron | PausablePoll):
                scheduler.set_paused(paused)

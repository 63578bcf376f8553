"""The trio shell that applies reconcile plans and keeps the figures for status.

One ``reconcile(dirs)`` pass: stat the watch folders, hash only what changed
(in a thread), plan (pure), then apply: unload vanished and changed packages,
load new and changed ones (a few at a time, each failure contained), register
their schedules, and drop schedules of packages no archive provides. Passes
never overlap (a lock), so the watcher, the poll fallback and SIGHUP can all
ask for one at any time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic

import trio
from loguru import logger

from cloacinactl.services.reconcile.interfaces import P, PackageHost, ScheduleRegistry
from cloacinactl.services.reconcile.plan import (
    BrokenState,
    LoadedState,
    orphans,
    plan_reconcile,
)
from cloacinactl.services.reconcile.scan import (
    Fingerprint,
    Sighting,
    fingerprint,
    note_sightings,
    settling,
    sha256_of,
    stat_archives,
    unproven,
)


@dataclass
class PassReport:
    """What one pass did."""

    loaded: list[Path] = field(default_factory=list)
    reloaded: list[Path] = field(default_factory=list)
    unloaded: list[Path] = field(default_factory=list)
    failed: dict[Path, str] = field(default_factory=dict)
    cleaned: list[str] = field(default_factory=list)  # orphaned packages' schedules removed
    pending: list[Path] = field(default_factory=list)
    hashed: int = 0
    duration_s: float = 0.0
    recheck_after_s: float | None = None  # when pending files will have settled


@dataclass
class ReconcilerStatus:
    """Live figures for the health socket and ``daemon status``."""

    packages_loaded: int
    packages: list[dict[str, str]]
    last_run_at: datetime | None
    last_duration_s: float | None
    runs: int
    errors: dict[str, str]


@dataclass
class _Loaded(Generic[P]):
    package: P
    sha256: str


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if "\n" in text and len(text) > 300 else text


class Reconciler(Generic[P]):
    """Keeps the loaded packages equal to the archives in the watch folders."""

    def __init__(
        self,
        host: PackageHost[P],
        schedules: ScheduleRegistry[P],
        *,
        settle_s: float = 0.5,
        load_concurrency: int = 4,
        wall_ns: Callable[[], int] = time.time_ns,
        hash_file: Callable[[Path], str] = sha256_of,
    ) -> None:
        self.host = host
        self.schedules = schedules
        self.settle_s = settle_s
        self.wall_ns = wall_ns
        self.hash_file = hash_file
        self._limiter = trio.CapacityLimiter(max(1, load_concurrency))
        self._lock = trio.Lock()
        self._fingerprints: dict[Path, Fingerprint] = {}
        self._loaded: dict[Path, _Loaded[P]] = {}
        self._broken: dict[Path, BrokenState] = {}
        self._dir_errors: dict[Path, str] = {}
        self._first_pass = True
        self._sightings: dict[Path, Sighting] = {}
        self._runs = 0
        self._last_run_at: datetime | None = None
        self._last_duration: float | None = None

    # -- figures -----------------------------------------------------------------

    def loaded(self) -> dict[Path, P]:
        return {p: rec.package for p, rec in self._loaded.items()}

    def errors(self) -> dict[Path, str]:
        """Broken archives and unreadable watch folders, by path."""
        out = {p: b.error for p, b in self._broken.items()}
        out.update(self._dir_errors)
        return out

    def status(self) -> ReconcilerStatus:
        packages = [
            {
                "name": rec.package.identity.name,
                "version": rec.package.identity.version,
                "sha256": rec.sha256,
                "path": str(path),
            }
            for path, rec in sorted(self._loaded.items())
        ]
        return ReconcilerStatus(
            packages_loaded=len(self._loaded),
            packages=packages,
            last_run_at=self._last_run_at,
            last_duration_s=self._last_duration,
            runs=self._runs,
            errors={str(p): e for p, e in sorted(self.errors().items())},
        )

    # -- a pass --------------------------------------------------------------------

    async def reconcile(self, dirs: Sequence[Path]) -> PassReport:
        """Run one pass over ``dirs`` (the current watch set)."""
        async with self._lock:
            started = trio.current_time()
            report = await self._pass(tuple(dirs))
            report.duration_s = trio.current_time() - started
            self._runs += 1
            self._last_run_at = datetime.now(UTC)
            self._last_duration = report.duration_s
            return report

    async def _pass(self, dirs: tuple[Path, ...]) -> PassReport:
        report = PassReport()
        scan = await trio.to_thread.run_sync(stat_archives, dirs)
        self._note_dir_errors(scan.dir_errors)
        now_ns = self.wall_ns()
        mono_s = trio.current_time()
        settle_ns = int(self.settle_s * 1e9)
        pending = settling(scan.files, now_ns, settle_ns) if settle_ns > 0 else set()
        self._sightings = note_sightings(scan.files, self._sightings, mono_s, now_ns)
        # Archives present at start are taken as they are; later ones with a kept
        # (old) mtime must be seen unchanged for settle_s first.
        waits = (
            {}
            if self._first_pass or settle_ns <= 0
            else unproven(self._sightings, mono_s, self.settle_s)
        )
        pending |= set(waits)
        settled = {p: s for p, s in scan.files.items() if p not in pending}
        prints, report.hashed = await trio.to_thread.run_sync(
            fingerprint, settled, self._fingerprints, self.hash_file
        )
        # Keep the previous fingerprints of pending files: they are not re-read yet.
        self._fingerprints = {
            **{p: f for p, f in self._fingerprints.items() if p in pending},
            **prints,
        }
        plan = plan_reconcile(
            {p: f.sha256 for p, f in prints.items()},
            {p: LoadedState(r.package.identity.name, r.sha256) for p, r in self._loaded.items()},
            self._broken,
            pending=pending,
        )
        report.pending = list(plan.pending)
        if pending:
            delays = [
                waits[p] if p in waits else (scan.files[p].mtime_ns + settle_ns - now_ns) / 1e9
                for p in pending
            ]
            report.recheck_after_s = max(0.0, *delays)
        for path in plan.forget:
            self._broken.pop(path, None)
        for path in (*plan.unload, *plan.reload):
            await self._unload(path)
        report.unloaded = list(plan.unload)
        to_load = [*plan.reload, *plan.load]
        if to_load:
            await self._load_all(to_load, prints, set(plan.reload), report)
        if self._first_pass or plan.changes:
            await self._clean_orphans(report)
            self._first_pass = False
        return report

    def _note_dir_errors(self, errors: dict[Path, str]) -> None:
        for folder, err in errors.items():
            if self._dir_errors.get(folder) != err:
                logger.warning("watch directory unreadable path={} error={}", folder, err)
        self._dir_errors = dict(errors)

    async def _unload(self, path: Path) -> None:
        rec = self._loaded.pop(path)
        name = rec.package.identity.name
        try:
            await self.schedules.unregister(name)
        except Exception:
            logger.exception("unregistering schedules failed package={}", name)
        try:
            await self.host.unload(rec.package)
        except Exception:
            logger.exception("unloading failed package={} path={}", name, path)
        logger.info("package unloaded package={} path={}", name, path)

    async def _load_all(
        self,
        paths: list[Path],
        prints: dict[Path, Fingerprint],
        reloads: set[Path],
        report: PassReport,
    ) -> None:
        results: dict[Path, P | BaseException] = {}

        async def load_one(path: Path) -> None:
            async with self._limiter:
                try:
                    results[path] = await self.host.load(path)
                except Exception as exc:
                    results[path] = exc

        async with trio.open_nursery() as nursery:
            for path in paths:
                nursery.start_soon(load_one, path)
        # Decide in path order so same-named archives resolve the same way every time.
        for path in sorted(paths):
            await self._adopt(path, results[path], prints[path].sha256, path in reloads, report)

    async def _adopt(
        self, path: Path, result: P | BaseException, sha: str, reload: bool, report: PassReport
    ) -> None:
        if isinstance(result, BaseException):
            self._mark_broken(path, sha, _describe(result), report)
            return
        name = result.identity.name
        holder = next((p for p, r in self._loaded.items() if r.package.identity.name == name), None)
        if holder is not None:
            await self._discard(result)
            self._mark_broken(
                path, sha, f"package {name!r} is already loaded from {holder}", report, name
            )
            return
        try:
            await self.schedules.register(result)
        except Exception as exc:
            await self._discard(result)
            try:
                await self.schedules.unregister(name)
            except Exception:
                logger.exception("unregistering schedules failed package={}", name)
            self._mark_broken(path, sha, f"invalid schedules: {_describe(exc)}", report)
            return
        self._loaded[path] = _Loaded(result, sha)
        self._broken.pop(path, None)
        (report.reloaded if reload else report.loaded).append(path)
        logger.info(
            "package {} package={} version={} path={}",
            "reloaded" if reload else "loaded",
            name,
            result.identity.version,
            path,
        )

    async def _discard(self, package: P) -> None:
        try:
            await self.host.unload(package)
        except Exception:
            logger.exception("unloading failed package={}", package.identity.name)

    def _mark_broken(
        self,
        path: Path,
        sha: str,
        error: str,
        report: PassReport,
        blocked_by: str | None = None,
    ) -> None:
        self._broken[path] = BrokenState(sha, error, blocked_by)
        report.failed[path] = error
        # Reported once: the archive is retried only when its content changes.
        logger.error("package failed to load path={} error={}", path, error)

    async def _clean_orphans(self, report: PassReport) -> None:
        try:
            known = await self.schedules.known_packages()
        except Exception:
            logger.exception("listing scheduled packages failed")
            return
        live = {r.package.identity.name for r in self._loaded.values()}
        for name in orphans(known, live):
            try:
                await self.schedules.unregister(name)
            except Exception:
                logger.exception("removing orphaned schedules failed package={}", name)
                continue
            report.cleaned.append(name)
            logger.info("orphaned schedules removed package={}", name)

"""The compiler's build loop: claim a pending build, have it built, keep the claim alive.

Runs inside ``cloacina-compiler`` (trio). One build at a time per compiler; running
the claimed build and recording its outcome is :mod:`.runner`, the signing key and
the compiler's id are :mod:`.identity`.

Tasks: the poll loop (every tenant, one claim at a time, then sleep
``poll_interval_ms`` unless PostgreSQL NOTIFY wakes it), the heartbeat (the
claim and this compiler's ``compiler_status`` row, every
``heartbeat_interval_s``), the sweep (stale claims back to the queue, every
``sweep_interval_s``). Shutdown: stop claiming, let the build in flight finish
within the drain deadline, else cancel it and hand the claim back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from cloacinactl.packages.compile import BuildLimits
from cloacinactl.services.compiler.identity import compiler_id, load_or_create_key
from cloacinactl.services.compiler.runner import BuildRunner, InFlight, now_utc
from cloacinactl.store import builds
from cloacinactl.store.db import Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cloacinactl.config.home import Home
    from cloacinactl.store.urls import DatabaseUrl

MAX_ATTEMPTS = 3


@dataclass
class Tunables:
    """What SIGHUP may change."""

    poll_interval_ms: int
    heartbeat_interval_s: int
    stale_threshold_s: int
    sweep_interval_s: int


class Builder(BuildRunner):
    """The build loop of one compiler process."""

    def __init__(
        self,
        *,
        home: Home,
        database_url: DatabaseUrl,
        tunables: Tunables,
        limits: BuildLimits | None = None,
        on_outcome: Callable[[str, float], None] | None = None,
    ) -> None:
        self.home = home
        self.url = database_url
        self.tunables = tunables
        self.limits = limits or BuildLimits()
        self.on_outcome = on_outcome
        self.id = compiler_id(home)
        self.stores: dict[str, Store] = {}
        self.main: Store | None = None
        self.in_flight: InFlight | None = None
        self.stopping = False
        self.idle = trio.Event()
        self.idle.set()
        self.wake = trio.Event()
        self.counts = builds.QueueCounts()
        self.heartbeat_at: dt.datetime | None = None
        self.succeeded = 0
        self.failed = 0
        self.reused = 0
        self.last_success_at: dt.datetime | None = None
        self.last_failure_at: dt.datetime | None = None
        self.fingerprint = ""
        self._key: Ed25519PrivateKey | None = None
        self._public_pem = ""
        self._listen_stop = threading.Event()

    # -- start -----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._key, self._public_pem, self.fingerprint = await trio.to_thread.run_sync(
            load_or_create_key, self.home
        )
        self.main = await trio.to_thread.run_sync(self._open, "public")
        now = now_utc()
        row = {
            "compiler_id": self.id,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "state": "idle",
            "current_build": None,
            "public_key": self._public_pem,
            "key_fingerprint": self.fingerprint,
            "heartbeat_interval_s": self.tunables.heartbeat_interval_s,
            "builds_succeeded": 0,
            "builds_failed": 0,
            "last_success_at": None,
            "last_failure_at": None,
            "started_at": now,
            "heartbeat_at": now,
        }
        await self.db(self.main, lambda c: builds.record_compiler(c, row))
        self.heartbeat_at = now
        await self.refresh_tenants()
        # claims a previous run of this compiler (same host and home) left behind
        for tenant, store in list(self.stores.items()):
            swept = await self.db(
                store,
                lambda c: builds.sweep_stale(
                    c, now_utc(), self.tunables.stale_threshold_s, MAX_ATTEMPTS, claimant=self.id
                ),
            )
            for pid in swept.requeued + swept.failed:
                logger.warning("compiler: recovered build {}/{} from a previous run", tenant, pid)
        logger.info(
            "compiler {} ready: key {} tenants {}",
            self.id,
            self.fingerprint[:16],
            list(self.stores),
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeats)
                nursery.start_soon(self._sweeps)
                if self.url.backend == "postgresql":
                    nursery.start_soon(self._listen)
                task_status.started()
                await self._poll()
        finally:
            self._listen_stop.set()
            with trio.CancelScope(shield=True):
                await self._stopped()

    def _open(self, tenant: str) -> Store:
        store = Store(self.url, tenant=tenant)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        self.stores[tenant] = store
        return store

    async def refresh_tenants(self) -> None:
        assert self.main is not None
        names = await self.db(self.main, builds.tenant_names, write=False)
        for name in names:
            if name not in self.stores:
                await trio.to_thread.run_sync(self._open, name)
        for gone in [n for n in self.stores if n not in names]:
            self.stores.pop(gone).close()

    async def _stopped(self) -> None:
        if self.main is None:
            return
        with contextlib.suppress(Exception):
            await self.db(
                self.main,
                lambda c: builds.compiler_heartbeat(
                    c, self.id, state="stopped", current_build=None, heartbeat_at=now_utc()
                ),
            )
        for store in self.stores.values():
            store.close()

    # -- shutdown --------------------------------------------------------------------
    async def drain(self) -> None:
        """Stop claiming; wait for the build in flight (the caller bounds the wait)."""
        self.stopping = True
        self.wake.set()
        if self.in_flight is not None:
            logger.info("compiler: waiting for build {} to finish", self.in_flight.claim.name)
        await self.idle.wait()

    # -- the loop --------------------------------------------------------------------
    async def _poll(self) -> None:
        while not self.stopping:
            built = False
            with contextlib.suppress(Exception):
                await self.refresh_tenants()
            total = builds.QueueCounts()
            for tenant, store in list(self.stores.items()):
                if self.stopping:
                    break
                try:
                    claim = await self.db(store, lambda c: builds.claim_next(c, self.id, now_utc()))
                except Exception as exc:
                    logger.error("compiler: cannot claim in tenant {}: {}", tenant, exc)
                    continue
                if claim is not None:
                    await self.recount()  # the queue as it is now: this build and the rest
                    try:
                        await self._build(tenant, store, claim)
                    except Exception as exc:  # e.g. the database went away mid-build
                        # the claim stays; its heartbeat stops, so a sweep requeues it
                        logger.opt(exception=exc).error(
                            "compiler: build {}/{} could not be recorded: {}",
                            tenant, claim.package_id, exc,
                        )  # fmt: skip
                        await trio.sleep(self.tunables.poll_interval_ms / 1000)
                    built = True
                    break
                with contextlib.suppress(Exception):
                    total = total + await self.db(store, builds.queue_counts, write=False)
            if built:
                await self.recount()
                continue
            self.counts = total
            with trio.move_on_after(self.tunables.poll_interval_ms / 1000):
                await self.wake.wait()
            self.wake = trio.Event()

    async def recount(self) -> None:
        """Pending/building across every tenant (``/v1/status``, the queue-depth gauge).

        The idle poll counts as it scans; while builds follow one another (a backlog)
        this keeps the figures current after each claim, each outcome and each heartbeat.
        """
        total = builds.QueueCounts()
        for tenant, store in list(self.stores.items()):
            try:
                total = total + await self.db(store, builds.queue_counts, write=False)
            except Exception as exc:
                logger.debug("compiler: cannot count the queue of tenant {}: {}", tenant, exc)
                return
        self.counts = total

    # -- heartbeat, sweep, wake-up -----------------------------------------------------
    async def _heartbeats(self) -> None:
        while True:
            await trio.sleep(self.tunables.heartbeat_interval_s)
            with contextlib.suppress(Exception):
                await self.beat()

    async def beat(self) -> None:
        assert self.main is not None
        now = now_utc()
        flight = self.in_flight
        if flight is not None:
            store = self.stores.get(flight.tenant)
            mine = store is not None and await self.db(
                store, lambda c: builds.heartbeat(c, flight.claim.package_id, self.id, now)
            )
            if not mine:
                logger.warning("compiler: lost the claim on {}; stopping it", flight.claim.name)
                flight.cancel.set()
        values = {
            "state": "building" if flight else "idle",
            "current_build": f"{flight.tenant}/{flight.claim.package_id}" if flight else None,
            "heartbeat_at": now,
            "heartbeat_interval_s": self.tunables.heartbeat_interval_s,
            "builds_succeeded": self.succeeded,
            "builds_failed": self.failed,
            "last_success_at": self.last_success_at,
            "last_failure_at": self.last_failure_at,
            "pid": os.getpid(),
        }
        await self.db(self.main, lambda c: builds.compiler_heartbeat(c, self.id, **values))
        self.heartbeat_at = now
        if flight is not None:  # uploads that arrived during a long build
            await self.recount()

    async def _sweeps(self) -> None:
        while True:
            await trio.sleep(self.tunables.sweep_interval_s)
            for tenant, store in list(self.stores.items()):
                try:
                    swept = await self.db(
                        store,
                        lambda c: builds.sweep_stale(
                            c, now_utc(), self.tunables.stale_threshold_s, MAX_ATTEMPTS
                        ),
                    )
                except Exception as exc:
                    logger.error("compiler: sweep of tenant {} failed: {}", tenant, exc)
                    continue
                for pid in swept.requeued:
                    logger.warning("compiler: stale build {}/{} back in the queue", tenant, pid)
                for pid in swept.failed:
                    logger.warning("compiler: stale build {}/{} failed (attempts)", tenant, pid)
                if swept.requeued:
                    self.wake.set()

    async def _listen(self) -> None:
        """PostgreSQL: LISTEN for uploads in a thread; each NOTIFY wakes the poll loop."""
        token = trio.lowlevel.current_trio_token()

        def wake() -> None:
            self.wake.set()

        def listen() -> None:
            import psycopg

            dsn = self.url.sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)
            while not self._listen_stop.is_set():
                try:
                    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                        conn.execute(f"LISTEN {builds.NOTIFY_CHANNEL}")
                        while not self._listen_stop.is_set():
                            for _note in conn.notifies(timeout=1.0, stop_after=1):
                                trio.from_thread.run_sync(wake, trio_token=token)
                except Exception as exc:  # the poll interval still applies
                    logger.debug("compiler: LISTEN connection lost: {}", exc)
                    self._listen_stop.wait(5)

        await trio.to_thread.run_sync(listen, abandon_on_cancel=True)

    # -- figures -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        doc = builds.status_document(self.counts, self.heartbeat_at, now_utc())
        flight = self.in_flight
        return {
            **doc,
            "compiler_id": self.id,
            "key_fingerprint": self.fingerprint,
            "tenants": sorted(self.stores),
            "current_build": (
                {
                    "tenant": flight.tenant,
                    "package_id": flight.claim.package_id,
                    "name": flight.claim.name,
                    "version": flight.claim.version,
                }
                if flight
                else None
            ),
            "builds_succeeded": self.succeeded,
            "builds_failed": self.failed,
            "builds_reused": self.reused,
            "builds_in_flight": int(flight is not None),
            "builds_completed": self.succeeded + self.failed,
        }

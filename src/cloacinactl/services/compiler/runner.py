"""One claimed build: fetch its source, build it (or reuse an artifact), record the outcome.

Database calls and the build itself run in threads; the build's tools run in
subprocesses (see :mod:`cloacinactl.packages.compile`). A build cancelled while in
flight hands its claim back. :class:`BuildRunner` is the part of
:class:`~cloacinactl.services.compiler.builder.Builder` that does this.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from loguru import logger

from cloacinactl.packages.compile import BuildFailed, BuildLimits, build_archive
from cloacinactl.packages.tools import BuildCancelled
from cloacinactl.store import builds
from cloacinactl.store.db import Store

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cloacinactl.config.home import Home
    from cloacinactl.store.urls import DatabaseUrl

T = TypeVar("T")

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass
class InFlight:
    tenant: str
    claim: builds.Claim
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BuildRunner:
    """Running one claimed build and recording its outcome (the builder's state,
    set up by :class:`~cloacinactl.services.compiler.builder.Builder`)."""

    home: Home
    url: DatabaseUrl
    limits: BuildLimits
    on_outcome: Callable[[str, float], None] | None
    id: str
    stores: dict[str, Store]
    in_flight: InFlight | None
    idle: trio.Event
    succeeded: int
    failed: int
    reused: int
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    _key: Ed25519PrivateKey | None
    _public_pem: str

    # -- helpers ---------------------------------------------------------------------
    async def db(self, store: Store, fn: Callable[[Any], T], *, write: bool = True) -> T:
        run = store.write if write else store.read
        return await trio.to_thread.run_sync(run, fn)

    def _deny(self) -> list[Path]:
        deny = [self.home.root]
        for store in self.stores.values():
            path = store.url.sqlite_path
            if path is not None:
                deny += [path] + [path.with_name(path.name + x) for x in SQLITE_SIDE_FILES]
        return deny

    # -- one build -------------------------------------------------------------------
    async def _build(self, tenant: str, store: Store, claim: builds.Claim) -> None:
        flight = InFlight(tenant, claim)
        self.in_flight = flight
        self.idle = trio.Event()
        logger.info(
            "compiler: building {}/{} {} {} (attempt {})",
            tenant, claim.package_id, claim.name, claim.version, claim.attempt,
        )  # fmt: skip
        try:
            await self._build_claimed(store, flight)
        except trio.Cancelled:
            flight.cancel.set()
            with trio.CancelScope(shield=True):
                await self.db(
                    store, lambda c: builds.hand_back(c, claim.package_id, self.id, now_utc())
                )
                logger.info("compiler: handed build {}/{} back", tenant, claim.package_id)
            raise
        finally:
            self.in_flight = None
            self.idle.set()

    async def _build_claimed(self, store: Store, flight: InFlight) -> None:
        claim = flight.claim
        source = await self.db(store, lambda c: builds.source_of(c, claim.package_id), write=False)
        if source is None:
            await self._fail(
                store, flight, "no uploaded source archive is stored for this package", ""
            )
            return
        source_hash = hashlib.sha256(source).hexdigest()
        known = await self.db(
            store, lambda c: builds.artifact_by_source(c, source_hash), write=False
        )
        if known is not None:
            log = f"reused the artifact built from the same source at {known.built_at.isoformat()}"
            await self._succeed(store, flight, known, log, reused=True)
            return
        try:
            output = await trio.to_thread.run_sync(
                self._run_build, source, flight, abandon_on_cancel=True
            )
        except BuildFailed as exc:
            await self._fail(store, flight, exc.reason, exc.log)
            return
        except BuildCancelled:
            return  # the claim was lost (swept while we were stuck): someone else has it
        artifact = builds.Artifact(
            package_id=claim.package_id,
            source_sha256=source_hash,
            archive=output.archive,
            sha256=output.sha256,
            signature=output.signature,
            signer_public_key=self._public_pem,
            description=output.description,
            built_by=self.id,
            built_at=now_utc(),
        )
        await self._succeed(store, flight, artifact, output.log)

    def _run_build(self, source: bytes, flight: InFlight) -> Any:
        """In a thread: the build in a scratch folder of its own, removed afterwards (also
        when the build was cancelled and nobody waits for this thread any more)."""
        assert self._key is not None
        scratch = Path(tempfile.mkdtemp(prefix="cloacina-build-"))
        try:
            return build_archive(
                source,
                scratch=scratch,
                key=self._key,
                limits=self.limits,
                deny=self._deny(),
                cancel=flight.cancel,
                secrets=[self.url.original],
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _succeed(
        self,
        store: Store,
        flight: InFlight,
        artifact: builds.Artifact,
        log: str,
        *,
        reused: bool = False,
    ) -> None:
        claim = flight.claim
        now = now_utc()
        ok = await self.db(
            store, lambda c: builds.finish_success(c, claim, self.id, artifact, log, now)
        )
        if not ok:
            logger.warning("compiler: build {} was taken over; result dropped", claim.package_id)
            return
        self.succeeded += 1
        self.reused += int(reused)
        self.last_success_at = now
        logger.info(
            "compiler: built {}/{} {} {} in {:.2f}s{}",
            flight.tenant, claim.package_id, claim.name, claim.version,
            time.monotonic() - flight.started, " (reused)" if reused else "",
        )  # fmt: skip
        if self.on_outcome is not None:
            self.on_outcome("reused" if reused else "success", time.monotonic() - flight.started)

    async def _fail(self, store: Store, flight: InFlight, reason: str, log: str) -> None:
        claim = flight.claim
        now = now_utc()
        ok = await self.db(
            store, lambda c: builds.finish_failure(c, claim, self.id, reason, log, now)
        )
        if not ok:
            return
        self.failed += 1
        self.last_failure_at = now
        first = reason.splitlines()[0] if reason else ""
        logger.warning("compiler: build of {}/{} failed: {}", flight.tenant, claim.name, first)
        if self.on_outcome is not None:
            self.on_outcome("failed", time.monotonic() - flight.started)

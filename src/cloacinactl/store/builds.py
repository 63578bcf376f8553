"""The build queue: claim, heartbeat, finish, sweep; artifacts; the compilers' status.

Per tenant (every tenant's store): a package row is a build job. The upload
route leaves it ``pending`` (with its source in ``package_archives``); a
compiler claims one at a time (``building``, ``build_claimed_by``), heartbeats
it, and finishes it ``success`` (the signed archive in ``package_artifacts``)
or ``failed`` (``build_error``); every write after the claim is conditional on
the claim still being the caller's, so a build handed to another compiler is
finished by exactly one of them. A sweep returns claims whose heartbeat is
older than the threshold to ``pending`` until ``max_attempts`` claims were
spent, then fails the package with that reason.

Claiming is ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent
compilers skip each other's rows) and a conditional ``UPDATE`` on SQLite (its
write transactions are serial already).

Global (main store only): ``compiler_status`` (in :mod:`cloacinactl.store.control`'s
tables), one row per compiler (stable per host and home), with its heartbeat,
figures and Ed25519 public key. Each compiler writes its own row here; what the
servers read of those rows (and how they requeue and wake) is
:mod:`cloacinactl.store.buildwatch`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, inspect, or_, select, update

from cloacinactl.store import schema as s
from cloacinactl.store.control import compiler_status, tenants
from cloacinactl.store.fastsql import schema_of

P = s.packages.c
A = s.package_artifacts.c

PENDING = "pending"
BUILDING = "building"
SUCCESS = "success"
FAILED = "failed"
NOTIFY_CHANNEL = "cloacina_builds"
ERROR_LIMIT = 4000

C = compiler_status.c


@dataclass(frozen=True)
class Claim:
    """A build this compiler holds."""

    package_id: str
    name: str
    version: str
    content_hash: str
    attempt: int


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# -- the queue -------------------------------------------------------------------------


def claim_next(conn: Connection, claimant: str, now: dt.datetime) -> Claim | None:
    """Take the oldest pending build of this tenant, or None."""
    pick = select(P.id).where(P.build_status == PENDING).order_by(P.updated_at, P.id).limit(1)
    if _is_pg(conn):
        package_id = conn.execute(pick.with_for_update(skip_locked=True)).scalar()
        if package_id is None:
            return None
        where = P.id == package_id
    else:
        where = and_(P.id == pick.scalar_subquery(), P.build_status == PENDING)
    row = conn.execute(
        update(s.packages)
        .where(where)
        .values(
            build_status=BUILDING,
            build_claimed_by=claimant,
            build_claimed_at=now,
            build_heartbeat_at=now,
            build_attempts=P.build_attempts + 1,
            build_error=None,
            updated_at=now,
        )
        .returning(P.id, P.name, P.version, P.content_hash, P.build_attempts)
    ).first()
    if row is None:
        return None
    return Claim(row.id, row.name, row.version, row.content_hash, row.build_attempts)


def _mine(package_id: str, claimant: str) -> Any:
    return and_(P.id == package_id, P.build_status == BUILDING, P.build_claimed_by == claimant)


def heartbeat(conn: Connection, package_id: str, claimant: str, now: dt.datetime) -> bool:
    """Refresh the claim; False when it is no longer ours (swept, deleted)."""
    done = conn.execute(
        update(s.packages).where(_mine(package_id, claimant)).values(build_heartbeat_at=now)
    )
    return bool(done.rowcount)


def hand_back(conn: Connection, package_id: str, claimant: str, now: dt.datetime) -> bool:
    """Return a build we will not finish (shutdown) to the queue; it costs no attempt."""
    done = conn.execute(
        update(s.packages)
        .where(_mine(package_id, claimant))
        .values(
            build_status=PENDING,
            build_claimed_by=None,
            build_claimed_at=None,
            build_heartbeat_at=None,
            build_attempts=P.build_attempts - 1,
            updated_at=now,
        )
    )
    return bool(done.rowcount)


def source_of(conn: Connection, package_id: str) -> bytes | None:
    """The uploaded source archive of a package (None when there is none)."""
    data = conn.execute(
        select(s.package_archives.c.archive).where(s.package_archives.c.package_id == package_id)
    ).scalar()
    return None if data is None else bytes(data)


@dataclass(frozen=True)
class Artifact:
    """A built, signed archive."""

    package_id: str
    source_sha256: str
    archive: bytes
    sha256: str
    signature: bytes
    signer_public_key: str
    description: dict[str, Any]
    built_by: str
    built_at: dt.datetime


def _artifact(row: Any) -> Artifact:
    values = dict(row._mapping)
    values["archive"] = bytes(values["archive"])
    values["signature"] = bytes(values["signature"])
    values.pop("size", None)
    return Artifact(**values)


def artifact_for(conn: Connection, package_id: str) -> Artifact | None:
    row = conn.execute(select(s.package_artifacts).where(A.package_id == package_id)).first()
    return None if row is None else _artifact(row)


def artifact_by_source(conn: Connection, source_sha256: str) -> Artifact | None:
    """An artifact built from exactly these source bytes (a re-upload reuses it)."""
    row = conn.execute(
        select(s.package_artifacts)
        .where(A.source_sha256 == source_sha256)
        .order_by(A.built_at.desc())
        .limit(1)
    ).first()
    return None if row is None else _artifact(row)


def _finish(
    conn: Connection, claim: Claim, claimant: str, log: str, now: dt.datetime, **values: Any
) -> bool:
    done = conn.execute(
        update(s.packages)
        .where(_mine(claim.package_id, claimant))
        .values(
            build_log=log,
            build_finished_at=now,
            build_claimed_by=None,
            build_heartbeat_at=None,
            updated_at=now,
            **values,
        )
    )
    return bool(done.rowcount)


def finish_success(
    conn: Connection, claim: Claim, claimant: str, artifact: Artifact, log: str, now: dt.datetime
) -> bool:
    """Store the artifact and mark the package built; False when the claim was lost."""
    manifest = artifact.description.get("manifest")
    if not _finish(
        conn, claim, claimant, log, now, build_status=SUCCESS, build_error=None, manifest=manifest
    ):
        return False
    conn.execute(s.package_artifacts.delete().where(A.package_id == claim.package_id))
    values = {k: getattr(artifact, k) for k in Artifact.__dataclass_fields__}
    conn.execute(
        s.package_artifacts.insert().values(
            **{**values, "package_id": claim.package_id, "size": len(artifact.archive)}
        )
    )
    return True


def finish_failure(
    conn: Connection, claim: Claim, claimant: str, reason: str, log: str, now: dt.datetime
) -> bool:
    """Mark the package failed with ``reason``; False when the claim was lost."""
    return _finish(
        conn, claim, claimant, log, now, build_status=FAILED, build_error=trim_error(reason)
    )


def trim_error(reason: str, limit: int = ERROR_LIMIT) -> str:
    """At most ``limit`` characters: the head and the tail, where tools say what failed."""
    if len(reason) <= limit:
        return reason
    half = (limit - 5) // 2
    return reason[:half] + "\n…\n" + reason[-half:]


@dataclass(frozen=True)
class Sweep:
    requeued: list[str]
    failed: list[str]


def sweep_stale(
    conn: Connection,
    now: dt.datetime,
    stale_after_s: float,
    max_attempts: int,
    *,
    claimant: str | None = None,
) -> Sweep:
    """Return claims without a heartbeat for ``stale_after_s`` to the queue (or fail them
    once ``max_attempts`` claims were spent). ``claimant``: also every claim it holds,
    however fresh (a restarted compiler's claims from its previous run)."""
    cutoff = now - dt.timedelta(seconds=stale_after_s)
    old = or_(P.build_heartbeat_at.is_(None), P.build_heartbeat_at < cutoff)
    if claimant is not None:
        old = or_(old, P.build_claimed_by == claimant)
    stale = and_(P.build_status == BUILDING, old)
    stmt = select(P.id, P.build_attempts, P.build_claimed_by).where(stale)
    if _is_pg(conn):
        stmt = stmt.with_for_update(skip_locked=True)
    requeued: list[str] = []
    failed: list[str] = []
    for row in conn.execute(stmt).all():
        common = {
            "build_claimed_by": None,
            "build_claimed_at": None,
            "build_heartbeat_at": None,
            "updated_at": now,
        }
        if row.build_attempts >= max_attempts:
            reason = (
                f"the build was abandoned {row.build_attempts} times: its compiler stopped"
                f" heartbeating for more than {stale_after_s:g}s each time (last:"
                f" {row.build_claimed_by}); the package may crash or hang the compiler"
            )
            values: dict[str, Any] = {
                "build_status": FAILED,
                "build_error": reason,
                "build_finished_at": now,
            }
            failed.append(row.id)
        else:
            values = {"build_status": PENDING}
            requeued.append(row.id)
        conn.execute(
            update(s.packages).where(and_(P.id == row.id, stale)).values(**values, **common)
        )
    return Sweep(requeued, failed)


@dataclass(frozen=True)
class QueueCounts:
    pending: int = 0
    building: int = 0
    last_success_at: dt.datetime | None = None
    last_failure_at: dt.datetime | None = None
    oldest_heartbeat_at: dt.datetime | None = None

    def __add__(self, other: QueueCounts) -> QueueCounts:
        return QueueCounts(
            self.pending + other.pending,
            self.building + other.building,
            _latest(self.last_success_at, other.last_success_at),
            _latest(self.last_failure_at, other.last_failure_at),
            _earliest(self.oldest_heartbeat_at, other.oldest_heartbeat_at),
        )


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return max((x for x in (a, b) if x is not None), default=None)


def _earliest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return min((x for x in (a, b) if x is not None), default=None)


def queue_counts(conn: Connection) -> QueueCounts:
    """This tenant's queue: pending/building counts and the latest outcomes."""
    counts: dict[str, int] = dict(
        conn.execute(
            select(P.build_status, func.count())
            .where(P.build_status.in_((PENDING, BUILDING)))
            .group_by(P.build_status)
        ).all()
    )

    def latest(status: str) -> dt.datetime | None:
        return conn.execute(
            select(func.max(P.build_finished_at)).where(P.build_status == status)
        ).scalar()

    oldest = conn.execute(
        select(func.min(P.build_heartbeat_at)).where(P.build_status == BUILDING)
    ).scalar()
    return QueueCounts(
        pending=int(counts.get(PENDING, 0)),
        building=int(counts.get(BUILDING, 0)),
        last_success_at=latest(SUCCESS),
        last_failure_at=latest(FAILED),
        oldest_heartbeat_at=oldest,
    )


def status_document(
    counts: QueueCounts, heartbeat_at: dt.datetime | None, now: dt.datetime
) -> dict[str, Any]:
    """The ``CompilerStatus`` shape (``/v1/status``, ``/v1/compiler/status``); pure."""
    if counts.building:
        state = "building"
    elif counts.pending:
        state = "backlogged"
    else:
        state = "idle"
    since = None
    if counts.building and counts.oldest_heartbeat_at is not None:
        since = max(0, int((now - counts.oldest_heartbeat_at).total_seconds()))
    return {
        "status": state,
        "pending": counts.pending,
        "building": counts.building,
        "last_success_at": _iso(counts.last_success_at),
        "last_failure_at": _iso(counts.last_failure_at),
        "seconds_since_heartbeat": since,
        "heartbeat_at": _iso(heartbeat_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


# -- tenants and the compilers' own rows (main store) ----------------------------------


def tenant_names(conn: Connection) -> list[str]:
    """Every tenant the compiler scans: ``public`` plus the ``tenants`` table's rows."""
    names = ["public"]
    if inspect(conn).has_table("tenants", schema=schema_of(conn)):
        for name in conn.execute(select(tenants.c.name).order_by(tenants.c.name)).scalars():
            if name != "public":
                names.append(str(name))
    return names


def record_compiler(conn: Connection, row: dict[str, Any]) -> None:
    """Insert or refresh this compiler's status row (``row`` has every column)."""
    found = conn.execute(select(C.compiler_id).where(C.compiler_id == row["compiler_id"])).first()
    if found is None:
        conn.execute(compiler_status.insert().values(**row))
    else:
        values = {k: v for k, v in row.items() if k != "compiler_id"}
        conn.execute(
            update(compiler_status).where(C.compiler_id == row["compiler_id"]).values(**values)
        )


def compiler_heartbeat(conn: Connection, compiler_id: str, **values: Any) -> None:
    conn.execute(update(compiler_status).where(C.compiler_id == compiler_id).values(**values))

"""The package registry: one row per (name, version); a changed archive at the same
version replaces the row's content hash (and so the workflow versions built from it)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, select, update

from cloacinactl.errors import NotFoundError
from cloacinactl.store import schema as s

P = s.packages.c
W = s.workflows.c


@dataclass(frozen=True)
class PackageRow:
    id: str
    name: str
    version: str
    content_hash: str
    description: str | None
    manifest: dict[str, Any] | None
    archive_path: str | None
    build_status: str
    build_error: str | None
    paused: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("created_at", "updated_at"):
            out[key] = out[key].isoformat().replace("+00:00", "Z")
        return out


def package_row(r: Any) -> PackageRow:
    return PackageRow(**{k: r._mapping[k] for k in PackageRow.__dataclass_fields__})


# what a PackageRow holds (not the build log, up to 64 KiB a row, nor the claim columns)
ROW_COLUMNS = tuple(s.packages.c[name] for name in PackageRow.__dataclass_fields__)


def upsert_package(
    conn: Connection,
    *,
    name: str,
    version: str,
    content_hash: str,
    now: dt.datetime,
    manifest: dict[str, Any] | None = None,
    archive_path: str | None = None,
    description: str | None = None,
    build_status: str = "success",
    build_error: str | None = None,
) -> tuple[PackageRow, bool]:
    """Insert or refresh ``name``/``version``; returns (row, changed)."""
    found = conn.execute(
        select(s.packages).where(and_(P.name == name, P.version == version))
    ).first()
    values = {
        "content_hash": content_hash,
        "manifest": manifest,
        "archive_path": archive_path,
        "description": description,
        "build_status": build_status,
        "build_error": build_error,
        "updated_at": now,
    }
    if found is None:
        pid = str(uuid.uuid4())
        conn.execute(
            s.packages.insert().values(
                id=pid, name=name, version=version, paused=False, created_at=now, **values
            )
        )
        changed = True
    else:
        pid = found.id
        changed = found.content_hash != content_hash or found.build_status != build_status
        conn.execute(update(s.packages).where(P.id == pid).values(**values))
    return get_package(conn, pid), changed


def get_package(conn: Connection, package_id: str) -> PackageRow:
    row = conn.execute(select(*ROW_COLUMNS).where(P.id == package_id)).first()
    if row is None:
        raise NotFoundError(f"package {package_id} not found")
    return package_row(row)


def find_package(conn: Connection, name: str, version: str | None = None) -> PackageRow | None:
    stmt = select(*ROW_COLUMNS).where(P.name == name)
    if version is not None:
        stmt = stmt.where(P.version == version)
    row = conn.execute(stmt.order_by(P.updated_at.desc())).first()
    return None if row is None else package_row(row)


def list_packages(
    conn: Connection, *, limit: int = 100, offset: int = 0
) -> tuple[list[PackageRow], int]:
    rows = conn.execute(
        select(*ROW_COLUMNS, func.count().over().label("total"))
        .order_by(P.name, P.version)
        .limit(limit)
        .offset(offset)
    ).all()
    if rows:
        total = rows[0].total
    else:  # past the end (or nothing stored): the count needs a query of its own
        total = conn.execute(select(func.count()).select_from(s.packages)).scalar() if offset else 0
    return [package_row(r) for r in rows], int(total or 0)


def change_marker(conn: Connection) -> tuple[Any, ...]:
    """A cheap value that changes when what a server loads changes: a package stored,
    built, deleted or paused, or a schedule paused or resumed (by any server)."""
    pkg = conn.execute(
        select(
            func.count(),
            func.max(P.updated_at),
            func.sum(case((P.paused.is_(True), 1), else_=0)),
        ).where(P.build_status == "success")
    ).one()
    paused = conn.execute(
        select(func.count()).select_from(s.schedules).where(s.schedules.c.paused.is_(True))
    ).scalar()
    return (*pkg, paused)


def delete_package(conn: Connection, package_id: str) -> None:
    """Remove a package and its schedules; its workflows can no longer be started."""
    get_package(conn, package_id)
    conn.execute(
        delete(s.cron_fires).where(
            s.cron_fires.c.schedule_id.in_(
                select(s.schedules.c.id).where(s.schedules.c.package_id == package_id)
            )
        )
    )
    conn.execute(delete(s.schedules).where(s.schedules.c.package_id == package_id))
    # Workflow versions stay (inactive, unowned): executions still running on them must
    # keep resolving their definition; new executions cannot start them.
    conn.execute(
        update(s.workflows).where(W.package_id == package_id).values(active=False, package_id=None)
    )
    conn.execute(delete(s.packages).where(P.id == package_id))

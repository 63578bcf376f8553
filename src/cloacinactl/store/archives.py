"""Uploaded package archives, stored in the database beside their package row.

The server writes the package row and its archive in one transaction
(:func:`store_upload`), so a package either exists with its bytes or not at all.
Every server on the database reads :func:`loadable_archives` on each reconcile
to load what the others stored; :func:`read_archive` fetches the bytes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select

from cloacinactl.errors import NotFoundError
from cloacinactl.store import schema as s
from cloacinactl.store.packages import PackageRow, get_package, upsert_package

A = s.package_archives.c
P = s.packages.c


@dataclass(frozen=True)
class StoredArchive:
    """An archive a server can load: its package row's identity and content hash."""

    package_id: str
    name: str
    version: str
    sha256: str
    size: int
    updated_at: dt.datetime


def store_upload(
    conn: Connection,
    *,
    name: str,
    version: str,
    sha256: str,
    archive: bytes,
    signature: bytes | None,
    now: dt.datetime,
    manifest: dict[str, Any] | None = None,
    description: str | None = None,
    build_status: str = "success",
) -> PackageRow:
    """Insert (or replace, for the same name and version) a package and its archive.

    Run inside one write transaction: the row and its bytes land together.
    """
    row, _changed = upsert_package(
        conn,
        name=name,
        version=version,
        content_hash=sha256,
        now=now,
        manifest=manifest,
        description=description,
        build_status=build_status,
    )
    conn.execute(delete(s.package_archives).where(A.package_id == row.id))
    conn.execute(
        s.package_archives.insert().values(
            package_id=row.id,
            archive=archive,
            signature=signature,
            size=len(archive),
            sha256=sha256,
            created_at=now,
        )
    )
    return row


def loadable_archives(conn: Connection) -> list[StoredArchive]:
    """Packages whose build succeeded and whose archive is stored, by name and version."""
    # a package the compiler built runs its signed artifact, not the uploaded source
    B = s.package_artifacts.c
    rows = conn.execute(
        select(
            P.id,
            P.name,
            P.version,
            func.coalesce(B.sha256, A.sha256).label("sha256"),
            func.coalesce(B.size, A.size).label("size"),
            P.updated_at,
        )
        .join(s.package_archives, A.package_id == P.id)
        .outerjoin(s.package_artifacts, B.package_id == P.id)
        .where(P.build_status == "success")
        .order_by(P.name, P.version)
    ).all()
    return [
        StoredArchive(r.id, r.name, r.version, r.sha256, int(r.size), r.updated_at) for r in rows
    ]


def read_archive(conn: Connection, package_id: str) -> tuple[bytes, bytes | None]:
    """The archive bytes and signature side-car of ``package_id``; NotFoundError if none."""
    row = conn.execute(select(A.archive, A.signature).where(A.package_id == package_id)).first()
    if row is None:
        raise NotFoundError(f"package {package_id} has no stored archive")
    return bytes(row.archive), None if row.signature is None else bytes(row.signature)


@dataclass(frozen=True)
class Runnable:
    """The bytes a server loads and how they came to be."""

    data: bytes
    signature: bytes | None  # the side-car document, when signed
    built: bool  # the compiler's artifact (signed by a compiler), not the upload itself


def read_runnable(conn: Connection, package_id: str) -> Runnable:
    """What a server loads: the compiler's signed artifact when there is one, else the
    uploaded archive (a package registered without a build)."""
    B = s.package_artifacts.c
    built = conn.execute(select(B.archive, B.signature).where(B.package_id == package_id)).first()
    if built is not None:
        return Runnable(bytes(built.archive), bytes(built.signature), True)
    data, signature = read_archive(conn, package_id)
    return Runnable(data, signature, False)


def package_with_archive(conn: Connection, package_id: str) -> tuple[PackageRow, bytes]:
    """A package row and its archive (for ``source``); NotFoundError if either is missing."""
    row = get_package(conn, package_id)
    data, _sig = read_archive(conn, package_id)
    return row, data

"""Daemon-side queries over package-owned rows (blocking; run them on a thread).

Retiring a package (unloaded, or removed while the daemon was down) deletes its
schedules (and their cron slots) and deactivates its workflows; workflow rows
stay, so executions already started keep their definition.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, delete, func, select, update

from cloacinactl.store import schema as s

P = s.packages.c
S = s.schedules.c
W = s.workflows.c
E = s.executions.c
F = s.cron_fires.c


def package_names_in_use(conn: Connection) -> set[str]:
    """Names of packages that own schedules or active workflows."""
    scheduled = select(P.name).join(s.schedules, S.package_id == P.id).distinct()
    active = (
        select(P.name).join(s.workflows, W.package_id == P.id).where(W.active.is_(True)).distinct()
    )
    names = set(conn.execute(scheduled).scalars())
    names.update(conn.execute(active).scalars())
    return names


def retire_package(conn: Connection, name: str) -> tuple[int, int]:
    """Delete the schedules and deactivate the workflows of every version of ``name``.

    Returns (schedules deleted, workflow versions deactivated). Idempotent.
    """
    ids = select(P.id).where(P.name == name).scalar_subquery()
    stale = list(conn.execute(select(S.id).where(S.package_id.in_(ids))).scalars())
    if stale:
        conn.execute(delete(s.cron_fires).where(F.schedule_id.in_(stale)))
        conn.execute(delete(s.schedules).where(S.id.in_(stale)))
    result = conn.execute(
        update(s.workflows)
        .where(and_(W.package_id.in_(ids), W.active.is_(True)))
        .values(active=False)
    )
    return len(stale), int(result.rowcount or 0)


def execution_counts(conn: Connection) -> dict[str, int]:
    """Executions by status (only statuses that occur)."""
    rows = conn.execute(select(E.status, func.count()).group_by(E.status))
    return {str(status): int(n) for status, n in rows}

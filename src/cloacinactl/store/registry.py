"""The workflow registry: definitions (and where their code lives) in the store.

A workflow is stored per (name, version); ``version`` hashes the package content
and the task graph, so in-flight executions keep running on the version they
started with while a newer one becomes ``active`` for new executions.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, select, update

from cloacinactl.errors import NotFoundError
from cloacinactl.store import schema as s
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import WorkflowDef


@dataclass(frozen=True)
class Registered:
    """A stored workflow version: its definition and code source (wire form)."""

    workflow: WorkflowDef
    code: dict[str, Any]
    package_id: str | None = None
    paused: bool = False

    @property
    def version(self) -> str:
        return self.workflow.version


def validated(workflow: WorkflowDef) -> WorkflowDef:
    """Re-run DAG validation (cycles, dangling deps, rules) on a definition from anywhere."""
    checked = build_workflow(
        workflow.name,
        workflow.tasks,
        params=workflow.params,
        description=workflow.description,
        tags=dict(workflow.tags),
        content_hash=workflow.content_hash,
        secrets=workflow.secrets,
    )
    return checked


def register(
    conn: Connection,
    workflow: WorkflowDef,
    code: dict[str, Any],
    *,
    package_id: str | None = None,
    now: dt.datetime,
) -> Registered:
    """Store ``workflow`` (idempotent per version) and make it the active version."""
    wf = validated(workflow)
    existing = conn.execute(
        select(s.workflows.c.id).where(
            and_(s.workflows.c.name == wf.name, s.workflows.c.version == wf.version)
        )
    ).scalar()
    conn.execute(
        update(s.workflows)
        .where(and_(s.workflows.c.name == wf.name, s.workflows.c.version != wf.version))
        .values(active=False)
    )
    if existing is None:
        conn.execute(
            s.workflows.insert().values(
                id=str(uuid.uuid4()),
                package_id=package_id,
                name=wf.name,
                version=wf.version,
                definition=wf.to_dict(),
                code=code,
                active=True,
                paused=False,
                created_at=now,
            )
        )
    else:
        conn.execute(
            update(s.workflows)
            .where(s.workflows.c.id == existing)
            .values(active=True, code=code, package_id=package_id)
        )
    return Registered(wf, code, package_id)


def unregister(conn: Connection, name: str) -> int:
    """Deactivate every version of ``name`` (in-flight executions keep their version)."""
    result = conn.execute(
        update(s.workflows).where(s.workflows.c.name == name).values(active=False)
    )
    return int(result.rowcount or 0)


def _from_row(row: Any) -> Registered:
    return Registered(
        WorkflowDef.from_dict(row.definition), row.code, row.package_id, bool(row.paused)
    )


class DefCache:
    """Workflow versions by (name, version), loaded from the store on first use."""

    def __init__(self) -> None:
        self._by_version: dict[tuple[str, str], Registered] = {}
        self._active: dict[str, tuple[Registered, float]] = {}
        self._lock = threading.Lock()

    def put(self, reg: Registered) -> None:
        with self._lock:
            self._by_version[(reg.workflow.name, reg.version)] = reg

    def get(self, conn: Connection, name: str, version: str) -> Registered:
        found = self._by_version.get((name, version))
        if found is not None:
            return found
        row = conn.execute(
            select(s.workflows).where(
                and_(s.workflows.c.name == name, s.workflows.c.version == version)
            )
        ).first()
        if row is None:
            raise NotFoundError(f"workflow {name!r} version {version} is not registered")
        reg = _from_row(row)
        self.put(reg)
        return reg

    def active_cached(self, name: str, now: float) -> Registered | None:
        """The active version of ``name`` if looked up (or registered here) recently."""
        memo = self._active.get(name)
        if memo is not None and memo[1] > now:
            return memo[0]
        return None

    def set_active(self, reg: Registered, until: float) -> None:
        self.put(reg)
        self._active[reg.workflow.name] = (reg, until)

    def forget_active(self, name: str) -> None:
        self._active.pop(name, None)

    def active(self, conn: Connection, name: str) -> Registered:
        """The active version of ``name``, read from the store (another process may have
        registered a newer one)."""
        row = conn.execute(
            select(s.workflows).where(
                and_(s.workflows.c.name == name, s.workflows.c.active.is_(True))
            )
        ).first()
        if row is None:
            raise NotFoundError(
                f"workflow {name!r} is not registered",
                hint="register it first (Runner.register) or load its package",
            )
        cached = self._by_version.get((name, row.version))
        if cached is not None and cached.code == row.code and cached.paused == bool(row.paused):
            return cached
        reg = _from_row(row)
        self.put(reg)
        return reg

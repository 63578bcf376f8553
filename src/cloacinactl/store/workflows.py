"""The API's view of workflows: one per package, with its active definition.

A package declares its workflow (``workflow_name`` in its manifest, the package
name by default); the definition (tasks, dependencies, declared params) comes
from the registered workflow version that the package owns, so a package that
is still building lists no tasks yet. Pausing a workflow marks its package and
every stored version of it, so an engine on any server refuses to start it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, and_, cast, or_, select, update

from cloacinactl.store import schema as s
from cloacinactl.store.fastsql import fetch, parse_ts, sql_of
from cloacinactl.store.packages import (
    ROW_COLUMNS,
    PackageRow,
    delete_package,
    list_packages,
    package_row,
)

P = s.packages.c
W = s.workflows.c

# our ParamSlot types -> JSON Schema types (upstream's InputSlot.schema)
_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}


def iso(value: dt.datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, or None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def workflow_name_of(row: PackageRow) -> str:
    manifest = row.manifest or {}
    name = manifest.get("workflow_name")
    return str(name) if name else row.name


@dataclass(frozen=True)
class WorkflowView:
    """A package, the workflow it declares, and that workflow's definition (if built)."""

    package: PackageRow
    workflow_name: str
    definition: dict[str, Any] | None

    def tasks(self) -> list[str]:
        return [str(t["id"]) for t in (self.definition or {}).get("tasks", [])]

    def summary(self) -> dict[str, Any]:
        row = self.package
        return {
            "id": row.id,
            "package_name": row.name,
            "workflow_name": self.workflow_name,
            "version": row.version,
            "description": row.description,
            "tasks": self.tasks(),
            "created_at": iso(row.created_at),
            "paused": row.paused,
        }

    def detail(self) -> dict[str, Any]:
        definition = self.definition or {}
        graph = [
            {
                "id": str(t["id"]),
                "dependencies": [str(d) for d in t.get("dependencies", [])],
                "description": t.get("description"),
            }
            for t in definition.get("tasks", [])
        ]
        return {
            **self.summary(),
            "build_status": self.package.build_status,
            "build_error": self.package.build_error,
            "declared_params": [input_slot(p) for p in definition.get("params", [])],
            "task_graph": graph,
        }


def input_slot(param: dict[str, Any]) -> dict[str, Any]:
    """One declared param as upstream's ``InputSlot`` (JSON Schema typed)."""
    kind = _JSON_TYPES.get(str(param.get("type", "any")))
    slot: dict[str, Any] = {
        "name": str(param["name"]),
        "schema": {"type": kind} if kind else {},
        "required": bool(param.get("required", True)),
        "encrypted": bool(param.get("encrypted", False)),
    }
    if param.get("default") is not None:
        slot["default"] = param["default"]
    return slot


def _definitions(conn: Connection, package_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The newest definition owned by each package (active first)."""
    if not package_ids:
        return {}
    sql = sql_of(conn)
    marks = ", ".join("?" * len(package_ids))
    rows = fetch(
        conn,
        sql.placeholders(
            f"SELECT package_id, definition FROM {sql.table('workflows')} "
            f"WHERE package_id IN ({marks}) ORDER BY active ASC, created_at ASC"
        ),
        list(package_ids),
    )
    # later rows win: active, newest
    return {str(pid): _json(definition) for pid, definition in rows}


def _views(conn: Connection, rows: Sequence[PackageRow]) -> list[WorkflowView]:
    defs = _definitions(conn, [r.id for r in rows])
    return [WorkflowView(r, workflow_name_of(r), defs.get(r.id)) for r in rows]


_ROW_FIELDS = tuple(PackageRow.__dataclass_fields__)


def list_workflows(
    conn: Connection, *, limit: int = 1000, offset: int = 0
) -> tuple[list[WorkflowView], int]:
    """A page of the tenant's packages with their workflows, and how many there are.

    Read through the driver: this is the keyed list that dashboards and clients poll,
    and SQLAlchemy's statement building and result processing cost four times the
    queries themselves."""
    sql = sql_of(conn)
    packages = sql.table("packages")
    rows = fetch(
        conn,
        sql.placeholders(
            f"SELECT {', '.join(_ROW_FIELDS)}, count(*) OVER () FROM {packages} "
            "ORDER BY name, version LIMIT ? OFFSET ?"
        ),
        (limit, offset),
    )
    if rows:
        total = rows[0][-1]
    else:  # past the end (or nothing stored): the count needs a query of its own
        total = fetch(conn, f"SELECT count(*) FROM {packages}", ())[0][0] if offset else 0
    return _views(conn, [_driver_row(r) for r in rows]), int(total)


def _driver_row(r: tuple[Any, ...]) -> PackageRow:
    """A PackageRow from a driver row of ``_ROW_FIELDS``, as the schema's types read it."""
    row = dict(zip(_ROW_FIELDS, r, strict=False))
    row["manifest"] = _json(row["manifest"])
    row["paused"] = bool(row["paused"])
    for key in ("created_at", "updated_at"):
        row[key] = _utc(parse_ts(row[key]))
    return PackageRow(**row)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC)


def find_workflow(conn: Connection, name_or_id: str) -> WorkflowView | None:
    """By package id, workflow name or package name (the newest version wins)."""
    # only rows that can match: the id, the name, or a manifest that mentions the key
    # (the workflow name lives in the manifest; the exact test is ``_matches``)
    maybe = conn.execute(
        select(*ROW_COLUMNS).where(
            or_(
                P.id == name_or_id,
                P.name == name_or_id,
                cast(P.manifest, Text).contains(name_or_id, autoescape=True),
            )
        )
    ).all()
    rows = [package_row(r) for r in maybe]
    candidates = [v for v in _views(conn, rows) if _matches(v, name_or_id)]
    if not candidates:
        return None
    return max(candidates, key=lambda v: (v.package.id == name_or_id, v.package.updated_at))


def _matches(view: WorkflowView, key: str) -> bool:
    return key in (view.package.id, view.workflow_name, view.package.name)


def _all_packages(conn: Connection) -> list[PackageRow]:
    rows, _total = list_packages(conn, limit=1_000_000)
    return rows


def set_workflow_paused(conn: Connection, view: WorkflowView, paused: bool) -> None:
    """Pause or resume ``view``'s workflow: its package row and every stored version."""
    conn.execute(
        update(s.packages)
        .where(or_(P.id == view.package.id, P.name == view.package.name))
        .values(paused=paused)
    )
    conn.execute(update(s.workflows).where(W.name == view.workflow_name).values(paused=paused))


def delete_workflow_version(conn: Connection, name: str, version: str) -> PackageRow | None:
    """Delete the package that provides ``name`` (workflow or package name) at ``version``."""
    for row in _all_packages(conn):
        if row.version == version and name in (row.name, workflow_name_of(row)):
            delete_package(conn, row.id)
            return row
    return None


def is_paused(conn: Connection, workflow_name: str) -> bool:
    """Whether the active version of ``workflow_name`` is paused."""
    found = conn.execute(
        select(W.paused).where(and_(W.name == workflow_name, W.active.is_(True)))
    ).scalar()
    return bool(found)

"""Computation graphs' durable state: accepted events, reactor cursors, recorded fires.

An accepted event (an inject, a polled value, a manual fire) is a
``graph_events`` row before anyone is told it was accepted. Its reactor
consumes events in id order; the fires they cause, the new accumulator and
reactor state, the counters and the cursor (the last event id consumed) are
committed in one transaction by :func:`commit_progress`, which also deletes
the consumed events. A service killed at any point restarts from the last
commit: every accepted event fires exactly once in the record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cloacinactl.store import schema as s

E = s.graph_events.c
R = s.graph_reactors.c
F = s.graph_fires.c
KEEP_FIRES = 1000  # per reactor; older fire records are pruned


@dataclass(frozen=True)
class EventRow:
    id: int
    reactor: str
    accumulator: str | None
    kind: str
    payload: Any
    created_at: dt.datetime


@dataclass(frozen=True)
class ReactorRow:
    name: str
    graph: str | None
    package: str | None
    cursor: int
    paused: bool
    state: dict[str, Any] | None
    stats: dict[str, Any] | None
    fires: int
    failures: int
    last_fired_at: dt.datetime | None


def _reactor(row: Any) -> ReactorRow:
    return ReactorRow(
        name=row.name,
        graph=row.graph,
        package=row.package,
        cursor=int(row.cursor),
        paused=bool(row.paused),
        state=row.state,
        stats=row.stats,
        fires=int(row.fires),
        failures=int(row.failures),
        last_fired_at=row.last_fired_at,
    )


def get_reactor(conn: Connection, name: str) -> ReactorRow | None:
    row = conn.execute(select(s.graph_reactors).where(R.name == name)).first()
    return None if row is None else _reactor(row)


def ensure_reactor(
    conn: Connection, name: str, *, graph: str | None, package: str | None, now: dt.datetime
) -> ReactorRow:
    """The reactor's row, created on first load (a reload keeps cursor and state)."""
    found = get_reactor(conn, name)
    if found is None:
        conn.execute(
            insert(s.graph_reactors).values(
                name=name,
                graph=graph,
                package=package,
                cursor=0,
                paused=False,
                state=None,
                stats=None,
                fires=0,
                failures=0,
                updated_at=now,
            )
        )
    elif (found.graph, found.package) != (graph, package):
        conn.execute(
            update(s.graph_reactors)
            .where(R.name == name)
            .values(graph=graph, package=package, updated_at=now)
        )
    result = get_reactor(conn, name)
    assert result is not None
    return result


def append_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert accepted events (``reactor``, ``accumulator``, ``kind``, ``payload``,
    ``created_at``); their ids, in order."""
    ids: list[int] = []
    for row in rows:
        result = conn.execute(insert(s.graph_events).values(**row))
        key = result.inserted_primary_key
        assert key is not None
        ids.append(int(key[0]))
    return ids


def pending_events(conn: Connection, reactor: str, after: int, limit: int) -> list[EventRow]:
    rows = conn.execute(
        select(s.graph_events).where(E.reactor == reactor, E.id > after).order_by(E.id).limit(limit)
    ).all()
    return [EventRow(r.id, r.reactor, r.accumulator, r.kind, r.payload, r.created_at) for r in rows]


def pending_count(conn: Connection, reactor: str, after: int) -> int:
    query = select(func.count()).select_from(s.graph_events)
    return int(conn.execute(query.where(E.reactor == reactor, E.id > after)).scalar_one())


def commit_progress(
    conn: Connection,
    reactor: str,
    *,
    cursor: int,
    state: dict[str, Any],
    stats: dict[str, Any],
    fires: Sequence[dict[str, Any]],
    failures: int,
    now: dt.datetime,
) -> None:
    """Record ``fires`` and move the reactor to ``cursor`` with its new state, at once."""
    if fires:
        conn.execute(insert(s.graph_fires), list(fires))
    values: dict[str, Any] = {
        "cursor": cursor,
        "state": state,
        "stats": stats,
        "fires": R.fires + len(fires),
        "failures": R.failures + failures,
        "updated_at": now,
    }
    if fires:
        values["last_fired_at"] = max(f["fired_at"] for f in fires)
    conn.execute(update(s.graph_reactors).where(R.name == reactor).values(**values))
    conn.execute(delete(s.graph_events).where(E.reactor == reactor, E.id <= cursor))
    if fires:
        _prune_fires(conn, reactor)


def _prune_fires(conn: Connection, reactor: str) -> None:
    newest = conn.execute(
        select(F.id).where(F.reactor == reactor).order_by(F.id.desc()).offset(KEEP_FIRES).limit(1)
    ).scalar()
    if newest is not None:
        conn.execute(delete(s.graph_fires).where(F.reactor == reactor, F.id <= newest))


def set_paused(conn: Connection, reactor: str, paused: bool, now: dt.datetime) -> bool:
    """Pause or resume; False when the reactor has no row."""
    result = conn.execute(
        update(s.graph_reactors).where(R.name == reactor).values(paused=paused, updated_at=now)
    )
    return bool(result.rowcount)


def recent_fires(conn: Connection, reactor: str, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first, in the upstream ``ReactorFire`` shape plus our own fields."""
    rows = conn.execute(
        select(s.graph_fires).where(F.reactor == reactor).order_by(F.id.desc()).limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "graph": r.graph,
            "fired_at": r.fired_at.isoformat().replace("+00:00", "Z"),
            "ok": bool(r.ok),
            "duration_ms": int(r.duration_ms),
            "error": r.error,
            "manual": bool(r.manual),
            "inputs": r.inputs or {},
            "inputs_digest": r.inputs_digest,
            "path": r.path or [],
            "outputs": list((r.outputs or {}).values()),
            "outputs_by_node": r.outputs or {},
        }
        for r in rows
    ]

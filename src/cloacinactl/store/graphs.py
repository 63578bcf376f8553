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
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from cloacinactl.jsonfast import compact_dumps
from cloacinactl.store import schema as s
from cloacinactl.store.fastsql import schema_of

E = s.graph_events.c
R = s.graph_reactors.c
F = s.graph_fires.c
KEEP_FIRES = 1000  # per reactor; older fire records are pruned
PG_CHUNK = 1000  # rows per multi-row INSERT (PostgreSQL takes at most 65,535 parameters)
PRUNE_EVERY = 50  # ...once per this many fires recorded (at most KEEP_FIRES + 49 kept)

# the hot path (accepted events, fire records) goes to the driver directly: SQLAlchemy's
# per-statement compile and per-value processing cost more than SQLite does. Values
# are stored exactly as the schema's types store them (JSONText: compact ASCII JSON;
# UtcDateTime: naive UTC text on SQLite, aware on PostgreSQL), so either path reads both.
encode_json = compact_dumps(ascii_only=True, check_circular=True)


def encode(value: Any) -> str | None:
    """A JSON document as ``JSONText`` stores it (``None`` stays NULL)."""
    return None if value is None else encode_json(value)


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _table(conn: Connection, name: str) -> str:
    if not _pg(conn):
        return name
    schema = schema_of(conn)
    return f'"{schema}".{name}' if schema else name


def _ts(conn: Connection, value: dt.datetime) -> Any:
    """A UTC time bound as ``UtcDateTime`` binds it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    return value if _pg(conn) else value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _read_ts(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


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
    return append_encoded(
        conn,
        [
            (r["reactor"], r["accumulator"], r["kind"], encode(r["payload"]), r["created_at"])
            for r in rows
        ],
    )


# (reactor, accumulator, kind, payload as encode() made it, created_at)
EncodedEvent = tuple[str, str | None, str, str | None, dt.datetime]


def append_encoded(conn: Connection, rows: Sequence[EncodedEvent]) -> list[int]:
    """:func:`append_events` for payloads already encoded; one statement for all rows.
    Must run in a write transaction (``Store.write``): on SQLite the ids of one
    ``executemany`` are then consecutive (AUTOINCREMENT, one writer at a time)."""
    if not rows:
        return []
    table = _table(conn, "graph_events")
    cols = "reactor, accumulator, kind, payload, created_at"
    params = [(r, a, k, p, _ts(conn, t)) for r, a, k, p, t in rows]
    if _pg(conn):
        ids: list[int] = []
        for start in range(0, len(params), PG_CHUNK):  # bound the parameters per statement
            chunk = params[start : start + PG_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
            result = conn.exec_driver_sql(
                f"INSERT INTO {table} ({cols}) VALUES {values} RETURNING id",
                tuple(v for row in chunk for v in row),
            )
            ids.extend(sorted(int(r[0]) for r in result))  # one statement: ids in row order
        return ids
    conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES (?, ?, ?, ?, ?)", params)
    last = int(conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one())
    return list(range(last - len(params) + 1, last + 1))


def pending_events(conn: Connection, reactor: str, after: int, limit: int) -> list[EventRow]:
    ph = "%s" if _pg(conn) else "?"
    rows = conn.exec_driver_sql(
        f"SELECT id, reactor, accumulator, kind, payload, created_at"
        f" FROM {_table(conn, 'graph_events')}"
        f" WHERE reactor = {ph} AND id > {ph} ORDER BY id LIMIT {ph}",
        (reactor, after, limit),
    ).all()
    return [EventRow(int(i), r, a, k, decode(p), _read_ts(t)) for i, r, a, k, p, t in rows]


def pending_count(conn: Connection, reactor: str, after: int) -> int:
    query = select(func.count()).select_from(s.graph_events)
    return int(conn.execute(query.where(E.reactor == reactor, E.id > after)).scalar_one())


def commit_progress(
    conn: Connection,
    reactor: str,
    *,
    cursor: int,
    state: dict[str, Any] | str,
    stats: dict[str, Any] | str,
    fires: Sequence[dict[str, Any]],
    failures: int,
    now: dt.datetime,
    prune: bool = True,
) -> None:
    """Record ``fires`` and move the reactor to ``cursor`` with its new state, at once.

    ``state`` and ``stats`` may come already encoded (:func:`encode`); ``prune``
    false skips trimming the fire records to ``KEEP_FIRES`` this time."""
    pg = _pg(conn)
    ph = "%s" if pg else "?"
    if fires:
        cols = (
            "reactor, graph, fired_at, duration_ms, ok, error, manual,"
            " inputs, inputs_digest, path, outputs"
        )
        params = [
            (
                f["reactor"],
                f["graph"],
                _ts(conn, f["fired_at"]),
                int(f["duration_ms"]),
                bool(f["ok"]),
                f["error"],
                bool(f["manual"]),
                encode(f["inputs"]),
                f["inputs_digest"],
                encode(f["path"]),
                encode(f["outputs"]),
            )
            for f in fires
        ]
        marks = ", ".join([ph] * 11)
        conn.exec_driver_sql(
            f"INSERT INTO {_table(conn, 'graph_fires')} ({cols}) VALUES ({marks})", params
        )
    last_fired = max(f["fired_at"] for f in fires) if fires else None
    conn.exec_driver_sql(
        f'UPDATE {_table(conn, "graph_reactors")} SET "cursor" = {ph}, state = {ph},'
        f" stats = {ph}, fires = fires + {ph}, failures = failures + {ph}, updated_at = {ph},"
        f" last_fired_at = COALESCE({ph}, last_fired_at) WHERE name = {ph}",
        (
            cursor,
            state if isinstance(state, str) else encode(state),
            stats if isinstance(stats, str) else encode(stats),
            len(fires),
            failures,
            _ts(conn, now),
            None if last_fired is None else _ts(conn, last_fired),
            reactor,
        ),
    )
    conn.exec_driver_sql(
        f"DELETE FROM {_table(conn, 'graph_events')} WHERE reactor = {ph} AND id <= {ph}",
        (reactor, cursor),
    )
    if fires and prune:
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

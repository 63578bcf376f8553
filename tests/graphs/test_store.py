"""store/graphs.py on both backends: events, cursor commit, fires, pause."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloacinactl.store import Store, drop_tenant, open_store
from cloacinactl.store import graphs as g


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        with open_store(f"sqlite:///{tmp_path}/g.db") as s:
            yield s
        return
    url = request.getfixturevalue("pg_url")
    tenant = "graphs_" + uuid.uuid4().hex[:8]
    s = open_store(url, tenant=tenant)
    try:
        yield s
    finally:
        s.close()
        drop_tenant(url, tenant)


def test_events_commit_and_fires(store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    store.write(lambda c: g.ensure_reactor(c, "r", graph="gr", package="p", now=now))
    row = {"reactor": "r", "accumulator": "a", "kind": "event", "created_at": now}
    ids = store.write(
        lambda c: g.append_events(c, [{**row, "payload": {"n": n}} for n in range(3)])
    )
    pending = store.read(lambda c: g.pending_events(c, "r", ids[0], 10))
    assert [e.payload for e in pending] == [{"n": 1}, {"n": 2}]
    fire = {
        "reactor": "r", "graph": "gr", "fired_at": now, "duration_ms": 3, "ok": False,
        "error": "boom", "manual": False, "inputs": {"a": 1}, "inputs_digest": "d",
        "path": ["n"], "outputs": {},
    }  # fmt: skip
    store.write(
        lambda c: g.commit_progress(
            c, "r", cursor=ids[-1], state={"cache": {"a": 1}}, stats={"a": {"errors": 0}},
            fires=[fire], failures=1, now=now,
        )
    )  # fmt: skip
    reactor = store.read(lambda c: g.get_reactor(c, "r"))
    assert reactor is not None
    assert (reactor.cursor, reactor.fires, reactor.failures) == (ids[-1], 1, 1)
    assert reactor.state == {"cache": {"a": 1}}
    assert store.read(lambda c: g.pending_count(c, "r", 0)) == 0  # consumed rows deleted
    (recorded,) = store.read(lambda c: g.recent_fires(c, "r"))
    assert (recorded["ok"], recorded["error"], recorded["path"]) == (False, "boom", ["n"])
    # ids keep growing after the table was emptied (the cursor relies on it)
    (later,) = store.write(lambda c: g.append_events(c, [{**row, "payload": None}]))
    assert later > ids[-1]
    assert store.write(lambda c: g.set_paused(c, "r", True, now)) is True
    assert store.write(lambda c: g.set_paused(c, "nope", True, now)) is False


def test_many_events_at_once_keep_their_order(store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "reactor": "r",
            "accumulator": "a",
            "kind": "event",
            "payload": {"n": n},
            "created_at": now,
        }
        for n in range(g.PG_CHUNK * 2 + 3)
    ]
    ids = store.write(lambda c: g.append_events(c, rows))
    assert ids == sorted(ids) and len(set(ids)) == len(rows)
    pending = store.read(lambda c: g.pending_events(c, "r", 0, len(rows)))
    assert [e.id for e in pending] == ids
    assert [e.payload["n"] for e in pending] == list(range(len(rows)))
    assert pending[0].created_at == now

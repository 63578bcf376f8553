"""The build queue in the database (SQLite and PostgreSQL): claim, heartbeat, finish, sweep."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest

from cloacinactl.store import builds, buildwatch, open_store
from cloacinactl.store.packages import get_package, upsert_package

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)


def pending(store, count: int, prefix: str = "p") -> list[str]:  # type: ignore[no-untyped-def]
    def add(conn):  # type: ignore[no-untyped-def]
        ids = []
        for i in range(count):
            row, _ = upsert_package(
                conn,
                name=f"{prefix}{i}",
                version="1.0.0",
                content_hash=f"{i:064x}",
                now=NOW + dt.timedelta(seconds=i),
                build_status="pending",
            )
            ids.append(row.id)
        return ids

    return store.write(add)  # type: ignore[no-any-return]


def artifact(claim: builds.Claim, source: str) -> builds.Artifact:
    return builds.Artifact(
        package_id=claim.package_id,
        source_sha256=source,
        archive=b"BZh-built",
        sha256="ab" * 32,
        signature=b"{}",
        signer_public_key="PEM",
        description={"manifest": {"name": claim.name}, "workflows": []},
        built_by="c1",
        built_at=NOW,
    )


def test_claim_finish_and_reuse(db_url: str) -> None:
    with open_store(db_url) as store:
        first, second = pending(store, 2)
        claim = store.write(lambda c: builds.claim_next(c, "c1", NOW))
        assert claim is not None and claim.package_id == first and claim.attempt == 1
        row = store.read(lambda c: get_package(c, first))
        assert row.build_status == "building"
        other = store.write(lambda c: builds.claim_next(c, "c2", NOW))
        assert other is not None and other.package_id == second
        assert store.write(lambda c: builds.claim_next(c, "c3", NOW)) is None
        counts = store.read(builds.queue_counts)
        assert (counts.pending, counts.building) == (0, 2)

        built = artifact(claim, claim.content_hash)
        # only the claimant can finish
        assert not store.write(lambda c: builds.finish_success(c, claim, "c2", built, "", NOW))
        assert store.write(lambda c: builds.finish_success(c, claim, "c1", built, "log", NOW))
        row = store.read(lambda c: get_package(c, first))
        assert row.build_status == "success" and row.manifest == {"name": "p0"}
        stored = store.read(lambda c: builds.artifact_for(c, first))
        assert stored is not None and stored.archive == b"BZh-built"
        found = store.read(lambda c: builds.artifact_by_source(c, claim.content_hash))
        assert found is not None and found.package_id == first

        assert store.write(
            lambda c: builds.finish_failure(c, other, "c2", "x" * 10_000, "log", NOW)
        )
        row = store.read(lambda c: get_package(c, second))
        assert row.build_status == "failed" and len(row.build_error or "") <= builds.ERROR_LIMIT
        counts = store.read(builds.queue_counts)
        assert (counts.pending, counts.building) == (0, 0)
        assert counts.last_success_at == NOW and counts.last_failure_at == NOW
        doc = builds.status_document(counts, None, NOW)
        assert doc["status"] == "idle" and doc["last_success_at"] == "2026-12-04T12:00:00Z"


def test_concurrent_claimers_never_share_a_build(db_url: str) -> None:
    with open_store(db_url, pool_size=8) as store:
        ids = pending(store, 40)
        got: list[str] = []
        lock = threading.Lock()

        def worker(name: str) -> None:
            while True:
                claim = store.write(lambda c: builds.claim_next(c, name, NOW))
                if claim is None:
                    return
                with lock:
                    got.append(claim.package_id)

        threads = [threading.Thread(target=worker, args=(f"c{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert Counter(got) == Counter(ids)


def test_sweep_requeues_stale_claims_then_fails_them(db_url: str) -> None:
    with open_store(db_url) as store:
        (pid,) = pending(store, 1)
        later = NOW
        for attempt in (1, 2):
            claim = store.write(lambda c, t=later: builds.claim_next(c, "dead", t))
            assert claim is not None and claim.attempt == attempt
            # fresh: nothing to sweep
            swept = store.write(lambda c, t=later: builds.sweep_stale(c, t, 60, 2))
            assert swept.requeued == [] and swept.failed == []
            later = later + dt.timedelta(seconds=61)
            swept = store.write(lambda c, t=later: builds.sweep_stale(c, t, 60, 2))
            if attempt == 1:
                assert swept.requeued == [pid]
                # the dead compiler's late result is refused
                assert not store.write(lambda c, t=later: builds.heartbeat(c, pid, "dead", t))
                assert not store.write(
                    lambda c, cl=claim: builds.finish_failure(c, cl, "dead", "x", "", NOW)
                )
            else:
                assert swept.failed == [pid]
        row = store.read(lambda c: get_package(c, pid))
        assert row.build_status == "failed"
        assert "abandoned 2 times" in (row.build_error or "")


def test_hand_back_costs_no_attempt(db_url: str) -> None:
    with open_store(db_url) as store:
        (pid,) = pending(store, 1)
        claim = store.write(lambda c: builds.claim_next(c, "c1", NOW))
        assert claim is not None
        assert store.write(lambda c: builds.heartbeat(c, pid, "c1", NOW))
        assert store.write(lambda c: builds.hand_back(c, pid, "c1", NOW))
        again = store.write(lambda c: builds.claim_next(c, "c2", NOW))
        assert again is not None and again.attempt == 1


def test_compiler_rows_alive_and_keys(db_url: str) -> None:
    with open_store(db_url) as store:
        assert store.read(buildwatch.compiler_alive) is False
        assert store.read(builds.tenant_names) == ["public"]
        row = {
            "compiler_id": "abc",
            "hostname": "h",
            "pid": 1,
            "state": "idle",
            "current_build": None,
            "public_key": "PEM-1",
            "key_fingerprint": "f" * 64,
            "heartbeat_interval_s": 10,
            "builds_succeeded": 0,
            "builds_failed": 0,
            "last_success_at": None,
            "last_failure_at": None,
            "started_at": NOW,
            "heartbeat_at": NOW,
        }
        store.write(lambda c: builds.record_compiler(c, row))
        assert store.read(lambda c: buildwatch.compiler_alive(c, NOW + dt.timedelta(seconds=29)))
        assert not store.read(
            lambda c: buildwatch.compiler_alive(c, NOW + dt.timedelta(seconds=31))
        )
        store.write(lambda c: builds.compiler_heartbeat(c, "abc", state="stopped"))
        assert not store.read(lambda c: buildwatch.compiler_alive(c, NOW))
        assert store.read(buildwatch.trusted_compiler_keys) == ["PEM-1"]


def test_tenant_stores_get_the_queue_but_not_the_global_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with open_store(url, tenant="acme") as store:
        assert store.read(buildwatch.compiler_rows) == []
        assert store.read(builds.queue_counts).pending == 0


@pytest.mark.parametrize("building", [0, 2])
def test_status_document_states(building: int) -> None:
    counts = builds.QueueCounts(
        pending=3, building=building, oldest_heartbeat_at=NOW - dt.timedelta(seconds=5)
    )
    doc = builds.status_document(counts, NOW, NOW)
    assert doc["status"] == ("building" if building else "backlogged")
    assert doc["seconds_since_heartbeat"] == (5 if building else None)
    assert doc["heartbeat_at"] == "2026-12-04T12:00:00Z"

"""find_workflow: by package id, package name or the workflow name its manifest
declares; the newest version wins; a key that only appears inside another
package's manifest matches nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from cloacinactl.store import open_store
from cloacinactl.store.packages import upsert_package
from cloacinactl.store.workflows import find_workflow


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_pg_url"))
    return f"sqlite:///{tmp_path / 'c.db'}"


def test_find_by_id_name_or_declared_workflow(store_url: str) -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with open_store(store_url) as store:

        def put(name: str, version: str, at: dt.datetime, manifest: dict[str, object]) -> str:
            row, _ = store.write(
                lambda c: upsert_package(
                    c,
                    name=name,
                    version=version,
                    content_hash=name + version,
                    now=at,
                    manifest=manifest,
                )
            )
            return row.id

        old = put("etl-pack", "1.0.0", t0, {"workflow_name": "nightly_etl"})
        new = put("etl-pack", "1.1.0", t0 + dt.timedelta(hours=1), {"workflow_name": "nightly_etl"})
        plain = put("reports", "0.1.0", t0, {"description": "feeds nightly_etl_v2 and 100%_x"})

        def find(key: str) -> str | None:
            view = store.read(lambda c: find_workflow(c, key))
            return None if view is None else view.package.id

        assert find("nightly_etl") == new  # the declared workflow name, newest version
        assert find("etl-pack") == new
        assert find(old) == old  # an id names that exact version
        assert find("reports") == plain
        assert find("nightly_etl_v2") is None  # only mentioned in another manifest
        assert find("100%_x") is None and find("%") is None and find("_") is None
        assert find("nope") is None


def test_the_list_reads_rows_as_the_schema_types_do(store_url: str) -> None:
    """list_workflows reads through the driver; its rows equal the SQLAlchemy reads."""
    from cloacinactl.store.packages import get_package, list_packages
    from cloacinactl.store.workflows import list_workflows

    t0 = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    with open_store(store_url) as store:
        for i, name in enumerate(("zeta", "alpha", "mid")):
            store.write(
                lambda c, i=i, name=name: upsert_package(
                    c,
                    name=name,
                    version=f"1.{i}.0",
                    content_hash=f"h{i}",
                    now=t0 + dt.timedelta(minutes=i),
                    manifest={"workflow_name": f"wf_{name}", "n": [i, None, "é"]},
                    description=None if i else "the first",
                    build_status="failed" if i == 1 else "success",
                    build_error="boom" if i == 1 else None,
                )
            )
        views, total = store.read(lambda c: list_workflows(c))
        expected, count = store.read(lambda c: list_packages(c, limit=1000))
        assert total == count == 3
        assert [v.package for v in views] == expected  # same order, same values
        assert [v.workflow_name for v in views] == ["wf_alpha", "wf_mid", "wf_zeta"]
        first = store.read(lambda c: get_package(c, views[0].package.id))
        assert views[0].package == first and first.created_at.tzinfo is not None
        page, total = store.read(lambda c: list_workflows(c, limit=1, offset=1))
        assert [v.package.name for v in page] == ["mid"] and total == 3
        past, total = store.read(lambda c: list_workflows(c, limit=5, offset=9))
        assert past == [] and total == 3

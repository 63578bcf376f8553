"""The package registry: upsert by (name, version), change detection, cascade delete."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from cloacinactl.errors import NotFoundError
from cloacinactl.store import open_store
from cloacinactl.store import schema as s
from cloacinactl.store.packages import (
    delete_package,
    find_package,
    get_package,
    list_packages,
    upsert_package,
)
from cloacinactl.store.registry import register
from cloacinactl.store.schedules import ScheduleSpec, replace_package_schedules
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import TaskDef

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_upsert_detects_changes_and_delete_cascades(db_url: str) -> None:
    with open_store(db_url) as store:
        row, changed = store.write(
            lambda c: upsert_package(c, name="p", version="1.0", content_hash="a", now=NOW)
        )
        assert changed
        same, changed = store.write(
            lambda c: upsert_package(c, name="p", version="1.0", content_hash="a", now=NOW)
        )
        assert same.id == row.id and not changed
        _, changed = store.write(
            lambda c: upsert_package(c, name="p", version="1.0", content_hash="b", now=NOW)
        )
        assert changed
        assert store.read(lambda c: find_package(c, "p")) is not None
        assert store.read(lambda c: get_package(c, row.id)).content_hash == "b"
        rows, total = store.read(list_packages)
        assert total == 1 and rows[0].to_dict()["created_at"].endswith("Z")
        store.write(
            lambda c: replace_package_schedules(
                c, row.id, [ScheduleSpec("cron", "wf", "t", cron_expression="* * * * *")], NOW
            )
        )
        wf = build_workflow("wf", [TaskDef("t", "m", "f")])
        store.write(
            lambda c: register(c, wf, {"kind": "module", "module": "m"}, package_id=row.id, now=NOW)
        )
        store.write(lambda c: delete_package(c, row.id))
        left = store.read(
            lambda c: c.execute(select(func.count()).select_from(s.schedules)).scalar()
        )
        assert left == 0
        # the workflow versions outlive the package (in-flight executions need them)
        kept = store.read(lambda c: c.execute(select(s.workflows)).all())
        assert [(w.name, w.active, w.package_id) for w in kept] == [("wf", False, None)]
        with pytest.raises(NotFoundError):
            store.read(lambda c: get_package(c, row.id))

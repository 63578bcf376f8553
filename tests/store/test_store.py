"""The store: URLs, migrations (idempotent, concurrent), tenants, transactions."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloacinactl.errors import UserError
from cloacinactl.store import open_store, parse_database_url
from cloacinactl.store import schema as s
from cloacinactl.store.db import drop_tenant
from cloacinactl.store.fastsql import sql_for
from cloacinactl.store.migrations import LATEST, MIGRATIONS


@pytest.mark.parametrize(
    "url",
    ["", "mysql://x/y", "sqlite://", "sqlite:///", "nonsense", "sqlite:///:memory:"],
)
def test_bad_urls_are_user_errors_naming_the_url(url: str) -> None:
    with pytest.raises(UserError) as info:
        parse_database_url(url)
    assert "database URL" in str(info.value)


def test_postgres_schemes_map_to_psycopg() -> None:
    for scheme in ("postgres", "postgresql"):
        parsed = parse_database_url(f"{scheme}://u:secret@h:5432/db")
        assert parsed.backend == "postgresql"
        assert parsed.sqlalchemy_url == "postgresql+psycopg://u:secret@h:5432/db"
        assert "secret" not in parsed.redacted


def test_sqlite_tenant_is_a_file_beside_the_main_one(tmp_path: Path) -> None:
    parsed = parse_database_url(f"sqlite:///{tmp_path}/cloacina.db")
    assert parsed.for_tenant("acme").sqlite_path == tmp_path / "cloacina.tenant-acme.db"
    assert parsed.for_tenant("public") is parsed
    with pytest.raises(UserError):
        parsed.for_tenant("bad-name")


def test_migrations_are_idempotent(db_url: str) -> None:
    with open_store(db_url) as store:
        assert store.migrate() == []
        version = store.read(
            lambda c: c.execute(select(func.max(s.schema_migrations.c.version))).scalar()
        )
        assert version == LATEST


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        mode = store.read(lambda c: c.exec_driver_sql("PRAGMA journal_mode").scalar())
        assert mode == "wal"


def test_concurrent_starters_migrate_once(db_url: str) -> None:
    code = "import sys; from cloacinactl.store import open_store;open_store(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url]) for _ in range(4)]
    try:
        assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    finally:
        for p in procs:
            p.kill()
    with open_store(db_url) as store:
        rows = store.read(lambda c: c.execute(select(s.schema_migrations.c.version)).all())
        assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]


def _insert_execution(conn: object, eid: str) -> None:
    now = dt.datetime.now(dt.UTC)
    conn.execute(  # type: ignore[attr-defined]
        s.executions.insert().values(
            id=eid,
            workflow_name="w",
            workflow_version="v",
            status="Pending",
            input_context={"a": [1, 2]},
            created_at=now,
        )
    )


def test_tenants_are_isolated(db_url: str) -> None:
    with open_store(db_url) as public, open_store(db_url, tenant="acme") as acme:
        eid = str(uuid.uuid4())
        public.write(lambda c: _insert_execution(c, eid))
        assert (
            acme.read(lambda c: c.execute(select(func.count()).select_from(s.executions)).scalar())
            == 0
        )
        row = public.read(lambda c: c.execute(select(s.executions)).one())
        assert row.input_context == {"a": [1, 2]}
        assert row.created_at.tzinfo is not None
    drop_tenant(db_url, "acme")
    with open_store(db_url, migrate=False) as public:
        assert (
            public.read(
                lambda c: c.execute(select(func.count()).select_from(s.executions)).scalar()
            )
            == 1
        )


def test_failed_write_rolls_back(db_url: str) -> None:
    with open_store(db_url) as store:

        def boom(conn: object) -> None:
            _insert_execution(conn, str(uuid.uuid4()))
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            store.write(boom)
        assert (
            store.read(lambda c: c.execute(select(func.count()).select_from(s.executions)).scalar())
            == 0
        )
        assert store.ping()


def test_unreachable_postgres_is_a_user_error() -> None:
    with pytest.raises(UserError) as info:
        open_store("postgresql://nobody@127.0.0.1:1/nothing")
    assert "127.0.0.1:1" in str(info.value)


def test_migration_9_moves_task_outputs_onto_their_task_rows(db_url: str) -> None:
    """A store from before migration 9 kept outputs in a table of their own; migrating
    copies each onto its task row (a task without one keeps NULL) and drops the table."""
    eid = str(uuid.uuid4())
    with open_store(db_url) as store:
        sql = sql_for(store.backend, store.schema_name)
        t, o = sql.table("tasks"), sql.table("task_outputs")

        def back_to_8(conn: Any) -> None:
            _insert_execution(conn, eid)
            now = dt.datetime.now(dt.UTC)
            for name in ("done", "waiting"):
                conn.execute(
                    s.tasks.insert().values(
                        execution_id=eid, task_name=name, state="NotStarted", created_at=now
                    )
                )
            conn.exec_driver_sql(f"ALTER TABLE {t} DROP COLUMN output_context")
            conn.exec_driver_sql(
                f"CREATE TABLE {o} (task_id BIGINT PRIMARY KEY, execution_id VARCHAR(36) "
                "NOT NULL, task_name VARCHAR(255) NOT NULL, output_context TEXT NOT NULL, "
                "created_at TIMESTAMP NOT NULL)"
            )
            conn.exec_driver_sql(
                f"INSERT INTO {o} SELECT id, execution_id, task_name, '{{\"n\": 1}}', "
                f"created_at FROM {t} WHERE task_name = 'done'"
            )
            conn.execute(s.schema_migrations.delete().where(s.schema_migrations.c.version == 9))

        store.write(back_to_8)
        assert store.migrate() == [9]
        rows = store.read(
            lambda c: c.execute(select(s.tasks.c.task_name, s.tasks.c.output_context)).all()
        )
        assert dict(rows) == {"done": {"n": 1}, "waiting": None}
        tables = store.read(
            lambda c: c.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = "
                "'task_outputs' AND table_schema = 'public'"
                if store.backend == "postgresql"
                else "SELECT count(*) FROM sqlite_master WHERE name = 'task_outputs'"
            ).scalar()
        )
        assert tables == 0


def test_a_locked_sqlite_write_fails_as_sqlalchemy_error_and_the_store_recovers(
    tmp_path: Path,
) -> None:
    """The writer's BEGIN/COMMIT run on the driver; a lock it meets is raised as
    SQLAlchemy's OperationalError (what the retry loop knows as transient), the
    connection is replaced, and the next write works."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    path = tmp_path / "c.db"
    with open_store(f"sqlite:///{path}") as store:
        store.write(lambda c: c.exec_driver_sql("PRAGMA busy_timeout=0"))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OperationalError, match="locked"):
                store.write(lambda c: _insert_execution(c, str(uuid.uuid4())), attempts=1)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        eid = str(uuid.uuid4())
        store.write(lambda c: _insert_execution(c, eid))
        ids = store.read(lambda c: c.execute(select(s.executions.c.id)).scalars().all())
        assert ids == [eid]

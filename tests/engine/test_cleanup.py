"""``admin cleanup-events``: the duration grammar and the command as a user runs it."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloacinactl.engine.cleanup import parse_duration
from cloacinactl.errors import UserError
from cloacinactl.store import open_store
from cloacinactl.store import schema as s


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * 86400),
        ("7d12h", 7 * 86400 + 12 * 3600),
        ("1d2h30m45s", 86400 + 7200 + 1800 + 45),
        ("1D2H", 93600),
        ("45s", 45),
        ("0d1s", 1),
        (" 10M ", 600),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text", ["", "0d", "0s0m", "d", "10", "10x", "1h1d", "1d1d", "-1d", "1.5d", "1d 2h", "h1"]
)
def test_bad_durations_are_user_errors(text: str) -> None:
    with pytest.raises(UserError):
        parse_duration(text)


def _seed(url: str, ages_days: list[float]) -> None:
    now = dt.datetime.now(dt.UTC)
    with open_store(url) as store:

        def work(conn: Any) -> None:
            eid = str(uuid.uuid4())
            conn.execute(
                s.executions.insert().values(
                    id=eid,
                    workflow_name="w",
                    workflow_version="v",
                    status="Completed",
                    input_context={},
                    created_at=now,
                    next_seq=len(ages_days) + 1,
                )
            )
            conn.execute(
                s.events.insert(),
                [
                    {
                        "execution_id": eid,
                        "sequence_num": i + 1,
                        "event_type": "task_created",
                        "task_name": "t",
                        "event_data": {},
                        "created_at": now - dt.timedelta(days=age),
                    }
                    for i, age in enumerate(ages_days)
                ],
            )

        store.write(work)


def _count(url: str) -> int:
    with open_store(url) as store:
        return int(
            store.read(lambda c: c.execute(select(func.count()).select_from(s.events)).scalar())
        )


def test_dry_run_counts_and_deletes_nothing_then_delete(cli: Any, db_url: str) -> None:
    _seed(db_url, [100, 95, 30, 1])
    dry = cli("admin", "cleanup-events", "--dry-run", "--database-url", db_url, "-o", "json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["events"] == 2
    assert _count(db_url) == 4
    real = cli("admin", "cleanup-events", "--older-than", "31D", "--database-url", db_url)
    assert real.returncode == 0, real.stderr
    assert "deleted 2 event(s)" in real.stdout
    assert _count(db_url) == 2


def test_url_from_env_then_config(cli: Any, home: Path, tmp_path: Path) -> None:
    env_url = f"sqlite:///{tmp_path / 'env.db'}"
    _seed(env_url, [200])
    result = cli("admin", "cleanup-events", env={"DATABASE_URL": env_url})
    assert result.returncode == 0, result.stderr
    assert _count(env_url) == 0
    cfg_url = f"sqlite:///{tmp_path / 'cfg.db'}"
    _seed(cfg_url, [200, 1])
    home.mkdir(parents=True)
    (home / "config.toml").write_text(f'database_url = "{cfg_url}"\n')
    result = cli("admin", "cleanup-events", "-o", "json", env={"DATABASE_URL": ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] == 1


def test_missing_url_bad_url_and_bad_duration_exit_1(cli: Any) -> None:
    none = cli("admin", "cleanup-events", env={"DATABASE_URL": ""})
    assert none.returncode == 1 and "no database URL" in none.stderr
    assert "--database-url" in none.stderr
    bad = cli("admin", "cleanup-events", "--database-url", "mysql://x/y")
    assert bad.returncode == 1 and "mysql://x/y" in bad.stderr
    dur = cli("admin", "cleanup-events", "--older-than", "0s", "--database-url", "sqlite:///x.db")
    assert dur.returncode == 1 and "greater than zero" in dur.stderr

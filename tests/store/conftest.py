"""Store fixtures: a database URL per backend (SQLite file, fresh PostgreSQL database)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloacina.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))

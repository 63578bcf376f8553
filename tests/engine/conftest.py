"""Engine fixtures: a database per backend and a started Runner on it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))  # the ``flows`` task module

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner

FAST = ExecutorConfig(
    concurrency=8, poll_interval_s=0.02, heartbeat_interval_s=0.2, stale_after_s=2.0
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cloacina.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


@pytest.fixture
async def runner(db_url: str, nursery: trio.Nursery) -> AsyncIterator[Runner]:
    r = Runner(db_url, config=FAST, task_runner=InProcessTaskRunner())
    await nursery.start(r.serve)
    yield r
    await r.ashutdown(5)
    if r._store is not None:
        r._store.close()

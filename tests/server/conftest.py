"""Fixtures of tests/server: the real ``cloacina-server`` process on a free port.

- ``server``: a fresh server (temp home, SQLite) for one test;
- ``shared_server``: one SQLite server for a whole test module (isolate your data
  with a fresh tenant: ``shared_server.new_tenant()``);
- ``pg_server``: a fresh server on a brand-new PostgreSQL database (skipped
  without ``CLOACINA_TEST_POSTGRES_URL``);
- ``start_server(database_url=None, *args, env=None)``: start more (extra flags,
  environment, several servers on one database).

Each yields a :class:`RunningServer`: ``url``, ``key`` (the bootstrap admin
key), ``home``, ``log`` (the JSON log file), ``proc``, ``client(key=...)``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "services"))  # svc_helpers.wait_for

from server_helpers import RunningServer, ServerPool

StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    pool = ServerPool(tmp_path)
    try:
        yield pool.start
    finally:
        pool.stop_all()


@pytest.fixture
def server(start_server: StartServer) -> RunningServer:
    return start_server()


@pytest.fixture
def pg_server(start_server: StartServer, fresh_pg_url: str) -> RunningServer:
    return start_server(fresh_pg_url)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    pool = ServerPool(tmp_path_factory.mktemp("shared-server"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()

"""Fixtures shared by every test area: the installed CLI, a temporary home, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PG_ENV = "CLOACINA_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background by a non-interactive shell (``cmd &``,
    ``nohup``) inherits SIGINT ignored, and so would every process the tests start:
    the Ctrl-C tests (follow modes, the status dashboard) would then wait forever.
    Give the suite and its children the default disposition back."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def installed(name: str) -> str:
    """Path of a console script installed beside this interpreter (the user's view)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run scripts/bootstrap")
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh Cloacina home that does not exist yet."""
    return tmp_path / "home"


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(home: Path) -> CliRunner:
    """Run the installed ``cloacinactl`` with ``--home`` set, as a user would."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        use_home: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("RUST_LOG", "NO_COLOR", "CLOACINA_HOME")
        }
        full_env.update(env or {})
        argv = [installed("cloacinactl")]
        if use_home:
            argv += ["--home", str(home)]
        argv += list(args)
        return subprocess.run(
            argv,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    return run


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL server URL for tests, or a visible skip when there is none."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    return url


@pytest.fixture
def fresh_pg_url(pg_url: str) -> Iterator[str]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"cloacina_t_{uuid.uuid4().hex[:12]}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

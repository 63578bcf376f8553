"""``--worker-memory-limit-mb`` / ``CLOACINA_WORKER_MEMORY_LIMIT_MB`` on the service binaries."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from svc_helpers import BIN, Services, clean_env

from cloacinactl.errors import UserError
from cloacinactl.services.common import WORKER_MEMORY_ENV, worker_memory_limit_mb


def test_the_flag_wins_over_the_environment_which_is_the_default() -> None:
    assert worker_memory_limit_mb(300, {WORKER_MEMORY_ENV: "256"}) == 300
    assert worker_memory_limit_mb(None, {WORKER_MEMORY_ENV: " 256 "}) == 256
    assert worker_memory_limit_mb(None, {WORKER_MEMORY_ENV: ""}) is None
    assert worker_memory_limit_mb(None, {}) is None
    with pytest.raises(UserError, match=f"{WORKER_MEMORY_ENV}='0': must be at least 1"):
        worker_memory_limit_mb(None, {WORKER_MEMORY_ENV: "0"})


@pytest.mark.parametrize(
    ("program", "value", "env", "message"),
    [
        ("cloacina-daemon", "0", None, "--worker-memory-limit-mb: must be at least 1, got 0"),
        ("cloacina-daemon", "lots", None, "expected a whole number, got 'lots'"),
        ("cloacina-daemon", None, "-1", f"{WORKER_MEMORY_ENV}='-1': must be at least 1"),
        ("cloacina-daemon", None, "1.5", f"{WORKER_MEMORY_ENV}='1.5': expected a whole number"),
    ],
)
def test_a_bad_limit_is_exit_1_before_anything_starts(
    home: Path, program: str, value: str | None, env: str | None, message: str
) -> None:
    argv = [str(BIN / program), "--home", str(home)]
    if value is not None:
        argv += ["--worker-memory-limit-mb", value]
    extra = {} if env is None else {WORKER_MEMORY_ENV: env}
    done = subprocess.run(
        argv, env=clean_env(**extra), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 1, done
    assert message in done.stderr
    assert not home.exists(), "nothing was started or created"


def test_daemon_start_passes_the_environment_limit_to_its_workers(
    cli, home: Path, services: Services
) -> None:
    services.start_daemon(env=clean_env(**{WORKER_MEMORY_ENV: "256"}))
    status = json.loads(cli("-o", "json", "daemon", "status").stdout)
    assert status["raw"]["workers"]["memory_limit_mb"] == 256
    assert cli("daemon", "stop").returncode == 0

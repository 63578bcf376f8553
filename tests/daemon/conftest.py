"""Fixtures of tests/daemon: a fast-config home and daemons killed by PID at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemon_helpers import FAST_CONFIG, Daemons


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    (h / "packages").mkdir(parents=True)
    (h / "config.toml").write_text(FAST_CONFIG)
    return h


@pytest.fixture
def daemons(home: Path, tmp_path: Path) -> Iterator[Daemons]:
    d = Daemons(home, tmp_path / "daemon.log")
    try:
        yield d
    finally:
        d.cleanup()

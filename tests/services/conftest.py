"""Fixtures of tests/services: real service processes, always cleaned up."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from svc_helpers import Services


@pytest.fixture
def services(home: Path) -> Iterator[Services]:
    s = Services(home)
    try:
        yield s
    finally:
        s.cleanup()

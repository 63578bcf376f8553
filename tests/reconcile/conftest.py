"""Test doubles for the loader and the schedule registry (real ones are owned elsewhere).

The "archives" are real files in real temporary folders; the fake host reads
them as JSON ``{"name": ..., "version": ...}`` so a test can tell exactly which
bytes were loaded, and a file that is not complete JSON fails to load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Identity:
    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class FakePackage:
    identity: Identity
    path: Path
    raw: str


@dataclass
class FakeHost:
    loads: list[tuple[Path, str]] = field(default_factory=list)
    unloads: list[str] = field(default_factory=list)

    async def load(self, path: Path) -> FakePackage:
        raw = path.read_text()
        self.loads.append((path, raw))
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValueError(f"{path.name}: not a valid package archive") from None
        import hashlib

        sha = hashlib.sha256(raw.encode()).hexdigest()
        return FakePackage(Identity(data["name"], data["version"], sha), path, raw)

    async def unload(self, package: FakePackage) -> None:
        self.unloads.append(package.identity.name)


@dataclass
class FakeSchedules:
    """Schedules "in the database": package name -> version registered."""

    rows: dict[str, str] = field(default_factory=dict)
    reject: set[str] = field(default_factory=set)

    async def register(self, package: FakePackage) -> None:
        if package.identity.name in self.reject:
            raise ValueError("invalid cron expression '61 * * * *'")
        self.rows[package.identity.name] = package.identity.version

    async def unregister(self, package_name: str) -> None:
        self.rows.pop(package_name, None)

    async def known_packages(self) -> set[str]:
        return set(self.rows)


def write_pkg(path: Path, name: str, version: str = "1.0", extra: str = "", age_s: float = 5):
    """Write a complete fake archive, with an mtime ``age_s`` in the past (settled)."""
    path.write_text(json.dumps({"name": name, "version": version, "extra": extra}))
    t = path.stat().st_mtime - age_s
    os.utime(path, (t, t))
    return path


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def schedules() -> FakeSchedules:
    return FakeSchedules()

"""Test doubles for the interfaces the schedulers call (real ones are owned elsewhere)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

from cloacinactl.engine.schedules import ClaimedSlot

EPOCH = datetime(2025, 1, 6, 12, 0, 0, tzinfo=UTC)  # a Monday, noon UTC


@dataclass
class TrioWallClock:
    """Wall time that follows trio's (virtual) clock: EPOCH + offset + trio time."""

    base: datetime = EPOCH

    def now(self) -> datetime:
        return self.base + timedelta(seconds=trio.current_time())


@dataclass
class MemoryCronStore:
    """An in-memory CronStore with the unique (schedule, slot) rule of the real one."""

    cursors: dict[str, datetime] = field(default_factory=dict)
    claims: dict[tuple[str, datetime], dict[str, Any]] = field(default_factory=dict)

    async def cron_cursor(self, schedule_id: str) -> datetime | None:
        return self.cursors.get(schedule_id)

    async def advance_cron_cursor(self, schedule_id: str, slot: datetime) -> None:
        old = self.cursors.get(schedule_id)
        if old is None or slot > old:
            self.cursors[schedule_id] = slot

    async def init_cursors(self, schedule_ids: list[str], now: datetime) -> dict[str, datetime]:
        for sid in schedule_ids:
            self.cursors.setdefault(sid, now)
        return {sid: self.cursors[sid] for sid in schedule_ids}

    async def claim_slot(self, schedule_id: str, scheduled_time: datetime) -> bool:
        key = (schedule_id, scheduled_time)
        if key in self.claims:
            return False
        self.claims[key] = {"execution_id": None, "attempts": 0, "claimed_at": _now()}
        return True

    async def attach_execution(
        self, schedule_id: str, scheduled_time: datetime, execution_id: str
    ) -> None:
        self.claims[(schedule_id, scheduled_time)]["execution_id"] = execution_id

    async def lost_slots(self, claimed_before: datetime) -> list[ClaimedSlot]:
        return [
            ClaimedSlot(sid, t, row["claimed_at"], row["attempts"])
            for (sid, t), row in self.claims.items()
            if row["execution_id"] is None and row["claimed_at"] < claimed_before
        ]

    async def reclaim_slot(self, slot: ClaimedSlot, now: datetime) -> bool:
        row = self.claims[(slot.schedule_id, slot.scheduled_time)]
        if row["execution_id"] is not None or row["attempts"] != slot.attempts:
            return False
        row["attempts"] += 1
        row["claimed_at"] = now
        return True


def _now() -> datetime:
    return TrioWallClock().now()


@dataclass
class RecordingStarter:
    """An ExecutionStarter that records each start; can be told to fail."""

    clock: TrioWallClock
    started: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    fail_next: int = 0
    active: set[str] = field(default_factory=set)

    async def start_execution(
        self, workflow: str, context: Mapping[str, Any], *, package: str
    ) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("runner unavailable")
        execution_id = f"exec-{len(self.started) + 1}"
        self.started.append((self.clock.now(), workflow, dict(context)))
        self.active.add(execution_id)
        return execution_id

    async def is_active(self, execution_id: str) -> bool:
        return execution_id in self.active


@pytest.fixture
def clock() -> TrioWallClock:
    return TrioWallClock()


@pytest.fixture
def store() -> MemoryCronStore:
    return MemoryCronStore()


@pytest.fixture
def starter(clock: TrioWallClock) -> RecordingStarter:
    return RecordingStarter(clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for the real CronSlots: SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'c.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))

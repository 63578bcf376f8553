"""What the schedulers need from the rest of the system, as small Protocols.

The real implementations live elsewhere (the store, the engine's runner, the
worker pool); the daemon wires them in. Everything here is async because each
of them touches the database or a worker process.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from cloacinactl.store.cronslots import ClaimedSlot


class Clock(Protocol):
    """Wall-clock time as an aware UTC datetime (injected so tests can fake it)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class CronStore(Protocol):
    """The store's cron tables: one row per (schedule, scheduled time), unique."""

    async def cron_cursor(self, schedule_id: str) -> datetime | None:
        """The newest slot this schedule has considered (fired or skipped), or None."""
        ...

    async def advance_cron_cursor(self, schedule_id: str, slot: datetime) -> None:
        """Move the cursor forward to ``slot`` (never backwards)."""
        ...

    async def init_cursors(self, schedule_ids: list[str], now: datetime) -> dict[str, datetime]:
        """The cursors of ``schedule_ids`` in one go; a schedule without one (brand new)
        gets ``now`` first, so it starts from now rather than catching up from the epoch."""
        ...

    async def claim_slot(self, schedule_id: str, scheduled_time: datetime) -> bool:
        """Insert the slot row; True if this caller inserted it (it fires exactly once)."""
        ...

    async def attach_execution(
        self, schedule_id: str, scheduled_time: datetime, execution_id: str
    ) -> None:
        """Record that the slot's execution started."""
        ...

    async def lost_slots(self, claimed_before: datetime) -> list[ClaimedSlot]:
        """Claimed slots with no execution whose claim is older than ``claimed_before``."""
        ...

    async def reclaim_slot(self, slot: ClaimedSlot, now: datetime) -> bool:
        """Atomically re-claim a lost slot (bump attempts, claimed_at = now) if it still
        has no execution and its attempts still equal ``slot.attempts``; True if won."""
        ...


class ExecutionStarter(Protocol):
    """The engine's runner: start a workflow execution, return its id."""

    async def start_execution(
        self, workflow: str, context: Mapping[str, Any], *, package: str
    ) -> str: ...


class ExecutionTracker(Protocol):
    """Whether an execution is still active (Pending, Running or Paused)."""

    async def is_active(self, execution_id: str) -> bool: ...

"""Cron maths (design §10): pure functions, no trio, no I/O.

Expressions have 5 fields (minute first) or 6 fields (seconds first, croniter's
``second_at_beginning``). Slots are computed in the schedule's IANA time zone and
returned as aware UTC datetimes, so the store and the timer never see local time.

Catch-up (**decision**): after downtime, the slots between the last slot the
schedule considered (its cursor) and *now* are "missed". Upstream Cloacina keeps
the oldest ``max_catchup`` of them and then jumps its cursor to now; we keep the
**most recent** ``max_catchup`` instead: the same count, but fresher runs, and
the cursor is simply the newest slot considered. The newest due slot counts as
*on time* (not a catch-up) when it is at most ``on_time_grace`` late, so a
running scheduler that wakes a few milliseconds after a slot always fires it,
even with ``cron_max_catchup = 0``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from cloacinactl.errors import UserError

DEFAULT_ON_TIME_GRACE = timedelta(seconds=30)


class CronError(UserError):
    """A cron expression or time zone is invalid (exit 1)."""


@dataclass(frozen=True)
class CronExpr:
    """A validated cron expression bound to a time zone."""

    expression: str
    timezone: str

    @property
    def fields(self) -> int:
        return len(self.expression.split())

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _iter(self, start: datetime) -> Any:
        return croniter(
            self.expression,
            start.astimezone(self.zone),
            second_at_beginning=self.fields == 6,
        )


def parse_cron(expression: str, timezone: str = "UTC") -> CronExpr:
    """Validate ``expression`` (5 or 6 fields) and ``timezone``; raise CronError if bad."""
    expr = " ".join(expression.split())
    count = len(expr.split())
    if count not in (5, 6):
        raise CronError(
            f"invalid cron expression {expression!r}: expected 5 fields, or 6 with leading "
            f"seconds, got {count}"
        )
    if not croniter.is_valid(expr, second_at_beginning=count == 6):
        raise CronError(f"invalid cron expression {expression!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {timezone!r}", hint="use an IANA name") from exc
    return CronExpr(expr, timezone)


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: cron maths needs aware datetimes")
    return t.astimezone(UTC)


def next_after(cron: CronExpr, t: datetime) -> datetime:
    """The first slot strictly after ``t`` (aware), as UTC."""
    it = cron._iter(_utc(t))
    nxt: datetime = it.get_next(datetime)
    return nxt.astimezone(UTC)


def next_run(
    expression: str | None, timezone: str | None, now: datetime, cursor: datetime | None = None
) -> datetime | None:
    """When a cron schedule fires next: its first slot after ``now`` (or after its
    ``cursor``, the newest slot it considered, when that is later). None for a
    missing or invalid expression."""
    if not expression:
        return None
    try:
        cron = parse_cron(expression, timezone or "UTC")
    except CronError:
        return None
    after = now if cursor is None else max(_utc(now), _utc(cursor))
    return next_after(cron, after)


def iter_slots(cron: CronExpr, after: datetime) -> Iterator[datetime]:
    """Every slot strictly after ``after``, oldest first, as UTC (endless)."""
    it = cron._iter(_utc(after))
    while True:
        nxt: datetime = it.get_next(datetime)
        yield nxt.astimezone(UTC)


def slots_between(cron: CronExpr, after: datetime, until: datetime) -> list[datetime]:
    """Slots in the half-open range ``(after, until]``, oldest first."""
    end = _utc(until)
    out: list[datetime] = []
    for slot in iter_slots(cron, after):
        if slot > end:
            break
        out.append(slot)
    return out


@dataclass(frozen=True)
class DuePlan:
    """What a wake-up at ``now`` must do for one schedule."""

    fire: tuple[datetime, ...]  # slots to claim and fire, oldest first
    skipped: int  # missed slots dropped by the catch-up bound
    cursor: datetime  # the newest slot considered (fired or skipped); persist it
    next_slot: datetime  # the first slot after ``now``


def plan_due(
    cron: CronExpr,
    cursor: datetime,
    now: datetime,
    max_catchup: int | None,
    *,
    on_time_grace: timedelta = DEFAULT_ON_TIME_GRACE,
) -> DuePlan:
    """Slots due in ``(cursor, now]`` after applying the catch-up bound.

    ``max_catchup`` None means unlimited. The newest due slot is on time when it
    is no more than ``on_time_grace`` late; every other due slot is a catch-up,
    and only the most recent ``max_catchup`` of those are kept.
    """
    now_utc = _utc(now)
    due: list[datetime] = []
    nxt = now_utc
    # Walk lazily: with an unlimited bound we need them all; with a bound we keep
    # only a window, so a one-second schedule down for a month stays cheap in memory.
    keep = None if max_catchup is None else max(0, max_catchup) + 1
    total = 0
    for slot in iter_slots(cron, cursor):
        if slot > now_utc:
            nxt = slot
            break
        total += 1
        due.append(slot)
        if keep is not None and len(due) > keep:
            del due[0]
    if not due:
        return DuePlan((), 0, _utc(cursor), nxt)
    newest = due[-1]
    on_time = now_utc - newest <= on_time_grace
    missed = due[:-1] if on_time else due
    if max_catchup is not None and len(missed) > max_catchup:
        missed = missed[len(missed) - max_catchup :] if max_catchup > 0 else []
    fire = [*missed, newest] if on_time else missed
    return DuePlan(tuple(fire), total - len(fire), newest, nxt)


def cron_context(*, scheduled_time: datetime, schedule_id: str, cron: CronExpr) -> dict[str, Any]:
    """The context keys a cron fire adds to the execution's input (design §10)."""
    return {
        "scheduled_time": _utc(scheduled_time).isoformat(),
        "schedule_id": schedule_id,
        "schedule_timezone": cron.timezone,
        "schedule_expression": cron.expression,
    }

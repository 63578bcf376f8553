"""The pure cron core: parsing, next slot, time zones, catch-up planning, context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloacinactl.engine.schedules import (
    CronError,
    cron_context,
    next_after,
    parse_cron,
    plan_due,
    slots_between,
)

T0 = datetime(2025, 1, 6, 12, 0, 0, tzinfo=UTC)


def test_five_field_expression_steps_by_minutes() -> None:
    cron = parse_cron("*/15 * * * *")
    assert next_after(cron, T0) == T0 + timedelta(minutes=15)
    assert next_after(cron, T0 - timedelta(seconds=1)) == T0


def test_six_field_expression_has_seconds_first() -> None:
    cron = parse_cron("*/3 * * * * *")
    assert slots_between(cron, T0, T0 + timedelta(seconds=10)) == [
        T0 + timedelta(seconds=s) for s in (3, 6, 9)
    ]


@pytest.mark.parametrize("expr", ["", "* * * *", "* * * * * * *", "61 * * * *", "a b c d e"])
def test_invalid_expressions_are_user_errors(expr: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(expr)
    assert info.value.exit_code == 1


def test_unknown_timezone_is_rejected() -> None:
    with pytest.raises(CronError, match="Mars/Olympus"):
        parse_cron("0 9 * * *", "Mars/Olympus")


def test_timezone_is_honoured_and_results_are_utc() -> None:
    cron = parse_cron("0 9 * * *", "America/New_York")
    winter = next_after(cron, datetime(2025, 1, 6, 0, 0, tzinfo=UTC))
    summer = next_after(cron, datetime(2025, 7, 7, 0, 0, tzinfo=UTC))
    assert winter == datetime(2025, 1, 6, 14, 0, tzinfo=UTC)  # EST = UTC-5
    assert summer == datetime(2025, 7, 7, 13, 0, tzinfo=UTC)  # EDT = UTC-4
    assert winter.tzinfo is UTC


def test_dst_gap_slot_still_fires_once() -> None:
    # 02:30 does not exist in New York on 2024-03-10; the day still gets one fire.
    cron = parse_cron("30 2 * * *", "America/New_York")
    start = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)
    slots = slots_between(cron, start, start + timedelta(days=3))
    assert len(slots) == 3
    assert len({s.date() for s in slots}) == 3


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        next_after(parse_cron("* * * * *"), datetime(2025, 1, 1))


def test_on_time_slot_fires_alone() -> None:
    cron = parse_cron("* * * * * *")
    plan = plan_due(cron, T0, T0 + timedelta(seconds=1, milliseconds=3), max_catchup=0)
    assert plan.fire == (T0 + timedelta(seconds=1),)
    assert plan.skipped == 0
    assert plan.cursor == T0 + timedelta(seconds=1)
    assert plan.next_slot == T0 + timedelta(seconds=2)


def test_nothing_due_keeps_cursor() -> None:
    cron = parse_cron("0 * * * *")
    plan = plan_due(cron, T0, T0 + timedelta(minutes=5), max_catchup=3)
    assert plan.fire == ()
    assert plan.cursor == T0
    assert plan.next_slot == T0 + timedelta(hours=1)


def test_catch_up_keeps_most_recent_missed_slots_plus_on_time_one() -> None:
    cron = parse_cron("* * * * *")
    now = T0 + timedelta(minutes=10, seconds=1)  # 10 slots due, the 10th is on time
    plan = plan_due(cron, T0, now, max_catchup=3)
    assert plan.fire == tuple(T0 + timedelta(minutes=m) for m in (7, 8, 9, 10))
    assert plan.skipped == 6
    assert plan.cursor == T0 + timedelta(minutes=10)
    assert plan.next_slot == T0 + timedelta(minutes=11)


def test_catch_up_when_newest_slot_is_late_counts_it_as_missed() -> None:
    cron = parse_cron("0 * * * *")
    now = T0 + timedelta(hours=5, minutes=30)  # 5 missed hourly slots, none on time
    plan = plan_due(cron, T0, now, max_catchup=2)
    assert plan.fire == (T0 + timedelta(hours=4), T0 + timedelta(hours=5))
    assert plan.skipped == 3
    assert plan_due(cron, T0, now, max_catchup=0).fire == ()
    assert plan_due(cron, T0, now, max_catchup=0).cursor == T0 + timedelta(hours=5)


def test_unlimited_catch_up_fires_everything_oldest_first() -> None:
    cron = parse_cron("*/10 * * * *")
    plan = plan_due(cron, T0, T0 + timedelta(hours=1, seconds=5), max_catchup=None)
    assert plan.fire == tuple(T0 + timedelta(minutes=10 * i) for i in range(1, 7))
    assert plan.skipped == 0


def test_context_keys() -> None:
    cron = parse_cron("0 9 * * 1-5", "Europe/Paris")
    ctx = cron_context(scheduled_time=T0, schedule_id="pkg:daily", cron=cron)
    assert ctx == {
        "scheduled_time": "2025-01-06T12:00:00+00:00",
        "schedule_id": "pkg:daily",
        "schedule_timezone": "Europe/Paris",
        "schedule_expression": "0 9 * * 1-5",
    }

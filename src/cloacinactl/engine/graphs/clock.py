"""Wall-clock time for the graph runtime: now in UTC, its ISO-8601 form (``Z``), and
a stamp for the hot path that is formatted once per millisecond."""

from __future__ import annotations

import datetime as dt
import time


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


_last_stamp: tuple[int, str] = (-1, "")


def iso_now() -> str:
    """``iso(now_utc())`` to the millisecond, formatted once per millisecond (every
    inject stamps the accumulator's counters)."""
    global _last_stamp
    ms = time.time_ns() // 1_000_000
    if _last_stamp[0] != ms:
        _last_stamp = (ms, iso(dt.datetime.fromtimestamp(ms / 1000, dt.UTC)) or "")
    return _last_stamp[1]

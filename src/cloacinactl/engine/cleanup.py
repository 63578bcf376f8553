"""``admin cleanup-events``: the delete itself (the duration grammar is in config.duration)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cloacinactl.config.duration import DURATION_HINT, parse_duration
from cloacinactl.store import events, open_store

__all__ = ["DURATION_HINT", "CleanupReport", "cleanup_events", "parse_duration"]


@dataclass(frozen=True)
class CleanupReport:
    cutoff: dt.datetime
    count: int
    dry_run: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "older_than": self.cutoff.isoformat().replace("+00:00", "Z"),
            "events": self.count,
            "deleted": 0 if self.dry_run else self.count,
            "dry_run": self.dry_run,
        }


def cleanup_events(
    database_url: str,
    older_than: dt.timedelta,
    *,
    dry_run: bool,
    tenant: str = "public",
    now: dt.datetime | None = None,
) -> CleanupReport:
    """Delete (or with ``dry_run`` only count) events created before now - ``older_than``."""
    try:
        cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    except OverflowError:
        cutoff = dt.datetime.min.replace(tzinfo=dt.UTC)
    with open_store(database_url, tenant=tenant) as store:
        if dry_run:
            count = store.read(lambda c: events.count_events_older_than(c, cutoff))
        else:
            count = store.write(lambda c: events.delete_events_older_than(c, cutoff))
    return CleanupReport(cutoff, count, dry_run)

"""The data behind ``status --watch``: the three probes, the daemon's database, a
server's request rate from its own ``/metrics``. The arithmetic is pure."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import CloacinaError
from cloacinactl.probes.http import http_get
from cloacinactl.probes.status import Where, composite_status

if TYPE_CHECKING:
    from cloacinactl.config.home import Home
    from cloacinactl.store import Store

_SAMPLE = re.compile(r"^cloacina_api_requests_total(\{[^}]*\})?\s+([0-9.eE+\-]+|NaN)\s*$")
_STATUS = re.compile(r'status="(\d+)"')


def request_counts(text: str) -> tuple[float, float]:
    """(all requests, 5xx answers) from a Prometheus text exposition (pure)."""
    total = errors = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        value = float(match.group(2))
        if value != value:  # NaN
            continue
        total += value
        status = _STATUS.search(match.group(1) or "")
        if status is not None and status.group(1).startswith("5"):
            errors += value
    return total, errors


@dataclass(frozen=True)
class Sample:
    at: float
    total: float
    errors: float


def rates(prev: Sample | None, cur: Sample) -> tuple[float | None, float | None]:
    """(requests per second, error rate 0..1) between two samples (pure)."""
    if prev is None or cur.at <= prev.at or cur.total < prev.total:
        return None, None  # first sample, or the server restarted (counters reset)
    requests = cur.total - prev.total
    rps = requests / (cur.at - prev.at)
    return rps, ((cur.errors - prev.errors) / requests if requests > 0 else 0.0)


@dataclass
class Watcher:
    """Takes one snapshot per call; keeps what it needs between calls."""

    home: Home
    wheres: Sequence[Where]
    timeout_s: float = 2.0
    _store: Store | None = None
    _prev: Sample | None = None
    last_error: str | None = field(default=None)

    def snapshot(self) -> dict[str, Any]:
        rows = composite_status(self.home, list(self.wheres), self.timeout_s)
        out: dict[str, Any] = {"services": rows, "at": time.time()}
        out["database"] = self._database()
        server = next(
            (
                w
                for w, r in zip(self.wheres, rows, strict=True)
                if w.service == "server" and r.get("state") == "running"
            ),
            None,
        )
        out["requests"] = self._requests(server) if server is not None else None
        return out

    def _database(self) -> dict[str, Any] | None:
        if not self.home.database.exists():
            return None
        try:
            if self._store is None:
                from cloacinactl.store import open_store

                self._store = open_store(self.home.database_url, migrate=False, pool_size=1)
            from cloacinactl.store.dashboard import dashboard

            return self._store.read(dashboard)
        except Exception as exc:  # a busy or half-migrated database is shown, not fatal
            return {"error": str(exc).splitlines()[0][:200]}

    def _requests(self, where: Where) -> dict[str, Any] | None:
        try:
            code, raw = http_get(where.target, "/metrics", self.timeout_s)
        except CloacinaError:
            return None
        if code != 200:
            return None
        total, errors = request_counts(raw.decode("utf-8", "replace"))
        cur = Sample(time.monotonic(), total, errors)
        rps, error_rate = rates(self._prev, cur)
        self._prev = cur
        return {"total": total, "errors": errors, "rps": rps, "error_rate": error_rate}

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

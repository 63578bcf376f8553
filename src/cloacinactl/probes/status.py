"""One row per service for ``X status`` and the composite ``cloacinactl status``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import CloacinaError, TransportError
from cloacinactl.probes.daemon import probe_daemon
from cloacinactl.probes.http import base_url, http_get_json
from cloacinactl.probes.local import ProcessInfo, process_info

if TYPE_CHECKING:
    from cloacinactl.config.home import Home

SERVICES = ("daemon", "server", "compiler")
# (health path, status path) of the HTTP services.
PROBE_PATHS: Mapping[str, tuple[str, str]] = {
    "server": ("/health", "/v1/health/status"),
    "compiler": ("/health", "/v1/status"),
}


@dataclass(frozen=True)
class Where:
    """Where a service's probe looks: the daemon's socket, or an HTTP base URL."""

    service: str
    target: str  # socket path or base URL

    @property
    def socket(self) -> Path:
        return Path(self.target)


def probe_service(where: Where, timeout_s: float) -> dict[str, Any]:
    """The service's own status document; TransportError when unreachable/unhealthy."""
    if where.service == "daemon":
        return probe_daemon(where.socket, timeout_s)
    _, status_path = PROBE_PATHS[where.service]
    code, body = http_get_json(where.target, status_path, timeout_s)
    if code != 200 or not isinstance(body, dict):
        raise TransportError(f"{base_url(where.target)}{status_path} answered HTTP {code}")
    return body


def health_ok(where: Where, timeout_s: float) -> bool:
    """The terse check behind ``X health``."""
    try:
        if where.service == "daemon":
            return probe_daemon(where.socket, timeout_s).get("status") == "healthy"
        health_path, _ = PROBE_PATHS[where.service]
        code, _ = http_get_json(where.target, health_path, timeout_s)
        return code == 200
    except CloacinaError:
        return False


def _mib(value: int | None) -> str | None:
    return None if value is None else f"{value / (1 << 20):.1f} MiB"


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    s = int(seconds)
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours}h{minutes}m"
    if hours:
        return f"{hours}h{minutes}m{s}s"
    return f"{minutes}m{s}s" if minutes else f"{s}s"


def _detail(service: str, body: Mapping[str, Any]) -> str:
    if service == "daemon":
        rec = body.get("reconciler") or {}
        graphs = body.get("graphs") or {}
        return (
            f"packages={rec.get('packages_loaded', 0)} "
            f"active_workflows={body.get('active_workflows', 0)} "
            f"last_reconcile={rec.get('last_run_at') or '-'}"
            + (f" graphs={graphs.get('loaded', 0)}" if graphs.get("loaded") else "")
        )
    db = body.get("database") or {}
    if service == "server":
        return f"database={'up' if db.get('connected') else 'down'} ({db.get('backend', '?')})"
    return (
        f"queue={body.get('status', '?')} pending={body.get('pending', 0)}"
        f" building={body.get('building', 0)}"
    )


def service_status(home: Home, where: Where, timeout_s: float = 2.0) -> dict[str, Any]:
    """A row: service, state, pid, uptime, rss, cpu, address, detail (+ the raw status).

    Never raises: a failing probe is reported in the row.
    """
    local: ProcessInfo | None = None
    try:
        local = process_info(home.pid_file(where.service))
    except OSError:
        local = None
    row: dict[str, Any] = {
        "service": where.service,
        "state": "stopped",
        "pid": local.pid if local else None,
        "uptime": _duration(local.uptime_s) if local else None,
        "rss": _mib(local.rss_bytes) if local else None,
        "cpu_percent": local.cpu_percent if local else None,
        "address": where.target if where.service == "daemon" else base_url(where.target),
        "detail": None,
    }
    try:
        body = probe_service(where, timeout_s)
    except CloacinaError as exc:
        row["state"] = "unreachable" if local else "stopped"
        row["detail"] = exc.message
        row["status"] = None
        return row
    # the compiler's "status" is its queue's state; its liveness is "health"
    healthy = body.get("health", body.get("status")) in ("healthy", "ok")
    row["state"] = "running" if healthy else "unhealthy"
    if row["pid"] is None and isinstance(body.get("pid"), int):
        row["pid"] = body["pid"]
    if row["uptime"] is None and isinstance(body.get("uptime_seconds"), int | float):
        row["uptime"] = _duration(float(body["uptime_seconds"]))
    row["detail"] = _detail(where.service, body)
    row["status"] = body
    return row


def composite_status(
    home: Home, wheres: list[Where], timeout_s: float = 2.0
) -> list[dict[str, Any]]:
    """All rows, probed concurrently; each probe has its own timeout and failure.

    Plain threads, not a ``concurrent.futures`` pool: that import (with
    ``logging``) alone costs more than the three probes.
    """
    import threading

    rows: list[dict[str, Any]] = [
        {"service": w.service, "state": "error", "detail": "probe did not finish"} for w in wheres
    ]

    def probe(index: int, where: Where) -> None:
        try:
            rows[index] = service_status(home, where, timeout_s)
        except Exception as exc:  # one broken probe never hides the others
            rows[index] = {"service": where.service, "state": "error", "detail": str(exc)}

    threads = [
        threading.Thread(target=probe, args=(i, w), name=f"probe-{w.service}", daemon=True)
        for i, w in enumerate(wheres)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return rows

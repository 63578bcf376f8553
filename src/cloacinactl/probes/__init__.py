"""Health/readiness probes of the three services and the composite ``status``.

Cheap to import: sockets and json (no trio, no httpx, no ``http.client``);
psutil and the PID-file protocol load only when a PID file exists, so
``cloacinactl status`` with nothing running and ``daemon health`` stay fast.

- ``probe_daemon(socket_path, timeout_s) -> dict`` (TransportError when unreachable)
- ``http_get_json(base, path, timeout_s) -> (status, body)`` (TransportError on failure)
- ``process_info(pid_path) -> ProcessInfo | None``: the verified owner's pid, uptime, RSS, CPU
- ``service_status(home, service, where, timeout_s) -> dict``: one row of ``status``
- ``composite_status(home, wheres, timeout_s) -> list[dict]``: all three, concurrently
- ``Where``: where a probe looks (socket path or base URL)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from cloacinactl.probes.daemon import (
        probe_daemon,
    )
    from cloacinactl.probes.http import (
        http_get_json,
    )
    from cloacinactl.probes.local import (
        ProcessInfo,
        process_info,
    )
    from cloacinactl.probes.status import (
        PROBE_PATHS,
        Where,
        composite_status,
        probe_service,
        service_status,
    )

# Names load on first use so that importing one light submodule (e.g. for a
# fast health probe) never pulls in trio or loguru.
_EXPORTS: dict[str, str] = {
    "PROBE_PATHS": "status",
    "ProcessInfo": "local",
    "Where": "status",
    "composite_status": "status",
    "http_get_json": "http",
    "probe_daemon": "daemon",
    "probe_service": "status",
    "process_info": "local",
    "service_status": "status",
}

__all__ = [
    "PROBE_PATHS",
    "ProcessInfo",
    "Where",
    "composite_status",
    "http_get_json",
    "probe_daemon",
    "probe_service",
    "process_info",
    "service_status",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

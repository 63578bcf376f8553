"""``cloacina-daemon``: the local scheduler service (store, health socket, scheduling).

Exports load on first use, so importing a light submodule (the health socket) does
not pull in the engine and SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from cloacinactl.services.daemon.engine import SchedulerWorkload
    from cloacinactl.services.daemon.service import DaemonService, DaemonServiceConfig, Workload

_EXPORTS = {
    "SchedulerWorkload": "engine",
    "DaemonService": "service",
    "DaemonServiceConfig": "service",
    "Workload": "service",
}

__all__ = ["DaemonService", "DaemonServiceConfig", "SchedulerWorkload", "Workload"]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

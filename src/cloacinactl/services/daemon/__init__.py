"""``cloacina-daemon``: the local scheduler service (store, health socket, scheduling).

Exports load on first use, so importing a light submodule (the health socket) does
not pull in the engine and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

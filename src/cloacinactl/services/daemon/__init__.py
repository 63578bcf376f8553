"""``cloacina-daemon``: the local scheduler service (store, health socket, scheduling)."""

from cloacinactl.services.daemon.engine import SchedulerWorkload
from cloacinactl.services.daemon.service import DaemonService, DaemonServiceConfig, Workload

__all__ = ["DaemonService", "DaemonServiceConfig", "SchedulerWorkload", "Workload"]

"""``cloacina-daemon``: the local scheduler service (health socket, SQLite home database)."""

from cloacinactl.services.daemon.service import DaemonService, DaemonServiceConfig, Workload

__all__ = ["DaemonService", "DaemonServiceConfig", "Workload"]

"""``cloacina-server``: the HTTP API service (probes now; API routes plug in as routers)."""

from cloacinactl.services.server.service import ServerService, ServerServiceConfig

__all__ = ["ServerService", "ServerServiceConfig"]

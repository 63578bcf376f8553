"""The server's routers, in the order the app includes them. Append yours."""

from __future__ import annotations

from fastapi import APIRouter

from cloacinactl.services.server.routes import compiler, graphs, keys, probes, secrets, tenants

ROUTERS: list[APIRouter] = [
    # -- srvcore
    probes.router,
    keys.router,
    tenants.router,
    compiler.router,
    # -- secrets
    secrets.router,
    # -- graphs
    graphs.router,
]

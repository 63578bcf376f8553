"""The server's routers, in the order the app includes them. Append yours."""

from __future__ import annotations

from fastapi import APIRouter

from cloacinactl.services.server.routes import (
    compiler,
    executions,
    graphs,
    keys,
    packages,
    probes,
    secrets,
    tenants,
    triggers,
    workflows,
)

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
    # -- workflows, packages, executions, triggers
    workflows.router,
    packages.router,
    executions.router,
    triggers.router,
]

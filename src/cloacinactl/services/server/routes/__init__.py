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
    # Requests are matched against the routes in this order, one by one: the routes
    # that clients and dashboards poll come first. No two routers' paths overlap, so
    # the order decides only how soon a request finds its route.
    probes.router,
    executions.router,
    workflows.router,
    triggers.router,
    packages.router,
    graphs.router,
    keys.router,
    tenants.router,
    secrets.router,
    compiler.router,
]

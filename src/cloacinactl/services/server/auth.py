"""Who is calling, and may they: ``AuthorizedRoute`` enforces the ``RULES`` table.

``Authorization: Bearer <key>``; the key's SHA-256 is looked up among the
unrevoked keys (through a short-lived cache that any revocation clears). The
matched route's ``(method, path template)`` names its rule in
:data:`~cloacinactl.services.server.authz.RULES`; a route without a row is
refused, so nothing is reachable by accident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

import trio
from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from loguru import logger
from starlette.types import Receive, Scope, Send

from cloacinactl.services.server.authz import RULES, Role, Rule
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.middleware import header
from cloacinactl.services.server.state import ServerState
from cloacinactl.store import control as ctl

TENANT_PARAMS = ("tenant", "tenant_id")
# last_used_at is refreshed at most this often per key (a write per request would
# serialise every request on SQLite's single writer)
TOUCH_EVERY = dt.timedelta(seconds=60)
# where AuthorizedRoute leaves the caller, in the request's scope["state"]
PRINCIPAL = "principal"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    tenant: str
    is_admin: bool

    def at_least(self, role: Role | None) -> bool:
        return role is None or self.is_admin or self.role >= role


def bearer_key(header: str | None) -> str:
    """The key of an ``Authorization: Bearer <key>`` header; 401 otherwise."""
    if not header:
        raise ApiError(401, "unauthorized", "missing API key: send Authorization: Bearer <key>")
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or " " in key:
        raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <key>'")
    return key


def _lookup(state: ServerState, key_hash: str) -> Principal | None:
    row = state.control.read(lambda conn: ctl.active_key_by_hash(conn, key_hash))
    if row is None:
        return None
    now = ctl.utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        state.control.write(lambda conn: ctl.touch_key(conn, row.id, now))
    try:
        role = Role.parse(row.role)
    except ValueError:
        logger.error("api key id={} has an unknown role; refused", row.id)
        return None
    return Principal(row.id, row.name, role, row.tenant, row.is_admin)


async def principal_of(state: ServerState, header: str | None) -> Principal:
    key_hash = ctl.hash_key(bearer_key(header))
    found = state.auth_cache.get(key_hash)
    if found is None:
        found = await trio.to_thread.run_sync(_lookup, state, key_hash)
        if found is None:
            raise ApiError(401, "unauthorized", "invalid or revoked API key")
        state.auth_cache.put(key_hash, found)
    return found


def rule_of(method: str, path: str) -> Rule:
    rule = RULES.get((method, path))
    if rule is None:
        # fail closed: a route nobody put in the table is reachable by nobody
        logger.error("no authorization rule method={} path={}", method, path)
        raise ApiError(403, "forbidden", "this route has no authorization rule")
    return rule


async def authorize(scope: Scope, route_path: str) -> Principal | None:
    """Enforce the rule of the matched route (``route_path``, its template) on the
    request of ``scope``; the caller's principal (None on public routes)."""
    rule = rule_of(str(scope["method"]), route_path)
    if rule.scope == "public":
        return None
    state: ServerState = scope["app"].state.server
    if not state.ready:
        raise ApiError(503, "not_ready", "the server is starting; try again shortly")
    sent = header(scope, b"authorization")
    principal = await principal_of(state, None if sent is None else sent.decode("latin-1"))
    if rule.scope == "global_admin":
        if not principal.is_admin:
            raise ApiError(403, "admin_required", "this needs an admin (is_admin) key")
    elif rule.scope == "tenant":
        params = scope.get("path_params", {})
        tenant = next((params[p] for p in TENANT_PARAMS if p in params), principal.tenant)
        if not principal.is_admin and principal.tenant != tenant:
            raise ApiError(403, "tenant_access_denied", f"this key cannot access tenant {tenant!r}")
        if not principal.at_least(rule.role):
            raise _insufficient(rule.role)
        await state.ensure_tenant(str(tenant))
    elif not principal.at_least(rule.role):
        raise _insufficient(rule.role)
    return principal


class AuthorizedRoute(APIRoute):
    """Every route of the server: the request is authorised (``authorize``) once the
    route matched and before FastAPI reads parameters or the body. As a route class
    rather than a dependency: FastAPI's dependency solving cost a keyed read a tenth
    of its time. ``build_app`` refuses a route of any other class."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.methods or scope["method"] in self.methods:
            # (a wrong method falls through to the 405 answer, authorised by nobody)
            principal = await authorize(scope, self.path)
            scope.setdefault("state", {})[PRINCIPAL] = principal
        await super().handle(scope, receive, send)


def keyed_router(tag: str) -> APIRouter:
    """A router whose routes are :class:`AuthorizedRoute`s."""
    return APIRouter(route_class=AuthorizedRoute, tags=[tag])


def current_key(request: Request) -> Principal:
    """The caller of a keyed route, as ``AuthorizedRoute`` found it."""
    principal: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    if principal is None:
        # only a public route (or one served outside AuthorizedRoute) lands here
        raise ApiError(401, "unauthorized", "missing API key: send Authorization: Bearer <key>")
    return principal


def _insufficient(role: Role | None) -> ApiError:
    need = role.label if role is not None else "a"
    return ApiError(403, "insufficient_permissions", f"this needs a key with the {need} role")


# a route that needs the caller: ``async def f(principal: CurrentKey)``
CurrentKey = Annotated[Principal, Depends(current_key)]

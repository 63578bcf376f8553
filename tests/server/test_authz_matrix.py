"""The authorisation matrix, generated from ``RULES`` and the running server's routes.

Every route × {no key, read, write, admin, is_admin} × {own tenant, other tenant}:
a caller the rule admits is never answered 401/403, one it refuses always is
(401 without a key, 403 with one). Routes added later are picked up from the
server's own ``/openapi.json``; bodies are harmless (``{}``), names do not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from server_helpers import RunningServer

from cloacinactl.services.server.authz import RULES, Role, Rule

UUID_PARAMS = {"key_id", "id", "package_id", "exec_id", "execution_id"}
TENANT_PARAMS = {"tenant", "tenant_id"}
DENY_CODES = {"admin_required", "tenant_access_denied", "insufficient_permissions"}


@dataclass(frozen=True)
class Caller:
    label: str
    role: Role | None  # None: no key at all
    is_admin: bool = False


CALLERS = [
    Caller("none", None),
    Caller("read", Role.READ),
    Caller("write", Role.WRITE),
    Caller("admin", Role.ADMIN),
    Caller("is_admin", Role.ADMIN, is_admin=True),
]


def admits(rule: Rule, caller: Caller, own: bool, tenant_in_path: bool) -> bool:
    """The rule, restated independently of ``auth.authorized``."""
    if rule.scope == "public":
        return True
    if caller.role is None:
        return False
    if caller.is_admin:
        return True
    if rule.scope == "global_admin":
        return False
    if rule.scope == "tenant" and tenant_in_path and not own:
        return False
    return rule.role is None or caller.role >= rule.role


def fill(path: str, tenant: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in TENANT_PARAMS:
            return tenant
        if name in UUID_PARAMS:
            return "00000000-0000-4000-8000-000000000000"
        if name == "version":
            return "0.0.0"
        return "nope_matrix"

    return re.sub(r"\{([^}]+)\}", value, path)


@pytest.fixture(scope="module")
def world(shared_server: RunningServer) -> dict[str, object]:
    own = shared_server.new_tenant("own")
    other = shared_server.new_tenant("other")
    keys = {c.label: shared_server.new_key(own, c.role.label) for c in CALLERS[1:4] if c.role}
    keys["is_admin"] = shared_server.key
    doc = shared_server.client(None).get("/openapi.json").json()
    routes = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    routes.add(("GET", "/openapi.json"))
    return {"own": own, "other": other, "keys": keys, "routes": routes}


def test_every_route_has_exactly_one_rule(world: dict[str, object]) -> None:
    routes = world["routes"]
    assert isinstance(routes, set)
    assert routes - set(RULES) == set(), "routes without a row in RULES"
    assert set(RULES) - routes == set(), "RULES rows for routes that do not exist"


def test_matrix(shared_server: RunningServer, world: dict[str, object]) -> None:
    keys = world["keys"]
    assert isinstance(keys, dict)
    wrong: list[str] = []
    cells = 0
    with httpx.Client(base_url=shared_server.url, timeout=20) as http:
        for (method, path), rule in sorted(RULES.items()):
            tenant_in_path = any(f"{{{p}}}" in path for p in TENANT_PARAMS)
            for own in (True, False) if tenant_in_path else (True,):
                url = fill(path, str(world["own" if own else "other"]))
                for caller in CALLERS:
                    headers = {}
                    if caller.role is not None:
                        headers["Authorization"] = f"Bearer {keys[caller.label]}"
                    body = {} if method in ("POST", "PUT", "PATCH") else None
                    with http.stream(method, url, json=body, headers=headers) as r:
                        status = r.status_code
                        payload = r.read() if status in (401, 403) else b""
                    cells += 1
                    where = f"{method} {url} as {caller.label}"
                    if admits(rule, caller, own, tenant_in_path):
                        if status in (401, 403):
                            wrong.append(f"{where}: refused {status} {payload!r}")
                    elif caller.role is None:
                        if status != 401:
                            wrong.append(f"{where}: {status}, wanted 401")
                    elif (
                        status != 403
                        or httpx.Response(403, content=payload).json()["code"] not in DENY_CODES
                    ):
                        wrong.append(f"{where}: {status} {payload!r}, wanted 403")
    assert not wrong, "\n".join(wrong)
    assert cells >= 5 * len(RULES)


def test_revoked_key_fails_at_once(shared_server: RunningServer) -> None:
    admin = shared_server.client()
    made = admin.post("/v1/auth/keys", json={"name": "short-lived", "role": "read"}).json()
    me = shared_server.client(made["key"])
    assert me.get("/v1/auth/whoami").status_code == 200  # now cached
    assert admin.delete(f"/v1/auth/keys/{made['id']}").json() == {
        "status": "revoked",
        "id": made["id"],
    }
    r = me.get("/v1/auth/whoami")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    again = admin.delete(f"/v1/auth/keys/{made['id']}")
    assert again.status_code == 404 and again.json()["code"] == "key_not_found"

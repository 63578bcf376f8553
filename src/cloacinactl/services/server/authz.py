"""The one authorisation table: every route of the server → who may call it.

Keyed by ``(METHOD, path template as FastAPI declares it)``. ``auth.authorized``
enforces it and the authorisation-matrix test reads it, so a route without a
row is refused (fail closed) and caught by the tests. Pure data, no I/O.

Scopes:

- ``public``: no key needed;
- ``any_key``: any valid key (and, when ``role`` is set, at least that role or
  ``is_admin``);
- ``tenant``: a key of the path's ``{tenant}`` (for paths without one, the key's
  own tenant) with at least ``role``, or an ``is_admin`` key;
- ``global_admin``: an ``is_admin`` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

Scope = Literal["public", "any_key", "tenant", "global_admin"]


class Role(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """``read`` / ``write`` / ``admin``: how the API spells it."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """``read`` / ``write`` / ``admin`` → the role; ValueError otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use read, write or admin") from None


@dataclass(frozen=True)
class Rule:
    role: Role | None
    scope: Scope


PUBLIC = Rule(None, "public")
ANY_KEY = Rule(None, "any_key")
GLOBAL_ADMIN = Rule(None, "global_admin")
TENANT_READ = Rule(Role.READ, "tenant")
TENANT_WRITE = Rule(Role.WRITE, "tenant")
TENANT_ADMIN = Rule(Role.ADMIN, "tenant")

RULES: dict[tuple[str, str], Rule] = {
    # -- srvcore ---------------------------------------------------------------------
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/v1/health/status"): PUBLIC,
    ("GET", "/v1/auth/whoami"): ANY_KEY,
    ("GET", "/v1/auth/keys"): GLOBAL_ADMIN,
    ("POST", "/v1/auth/keys"): GLOBAL_ADMIN,
    ("DELETE", "/v1/auth/keys/{key_id}"): GLOBAL_ADMIN,
    ("GET", "/v1/tenants/{tenant}/keys"): TENANT_ADMIN,
    ("POST", "/v1/tenants/{tenant}/keys"): TENANT_ADMIN,
    ("DELETE", "/v1/tenants/{tenant}/keys/{key_id}"): TENANT_ADMIN,
    ("GET", "/v1/tenants"): GLOBAL_ADMIN,
    ("POST", "/v1/tenants"): GLOBAL_ADMIN,
    ("DELETE", "/v1/tenants/{name}"): GLOBAL_ADMIN,
    ("GET", "/v1/compiler/status"): Rule(Role.ADMIN, "any_key"),
    # -- secrets -----------------------------------------------------------------------
    ("GET", "/v1/tenants/{tenant}/secrets"): TENANT_ADMIN,
    ("POST", "/v1/tenants/{tenant}/secrets"): TENANT_ADMIN,
    ("GET", "/v1/tenants/{tenant}/secrets/{name}"): TENANT_ADMIN,
    ("PUT", "/v1/tenants/{tenant}/secrets/{name}"): TENANT_ADMIN,
    ("DELETE", "/v1/tenants/{tenant}/secrets/{name}"): TENANT_ADMIN,
    # -- graphs ----------------------------------------------------------------------
    # a key sees its own tenant's graphs (is_admin: every tenant's)
    ("GET", "/v1/health/graphs"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/graphs/{name}"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/accumulators"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/reactors"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/reactors/{name}/fires"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/accumulators/{name}/interface"): Rule(Role.READ, "any_key"),
    ("GET", "/v1/health/reactors/{name}/interface"): Rule(Role.READ, "any_key"),
    ("POST", "/v1/health/accumulators/{name}/inject"): Rule(Role.WRITE, "any_key"),
    ("POST", "/v1/health/reactors/{name}/fire"): Rule(Role.WRITE, "any_key"),
    ("POST", "/v1/health/reactors/{name}/pause"): Rule(Role.WRITE, "any_key"),
    ("POST", "/v1/health/reactors/{name}/resume"): Rule(Role.WRITE, "any_key"),
    # -- workflows and packages (routes/workflows.py, routes/packages.py) ---------------
    ("GET", "/v1/tenants/{tenant}/workflows"): TENANT_READ,
    ("POST", "/v1/tenants/{tenant}/workflows"): TENANT_WRITE,
    ("GET", "/v1/tenants/{tenant}/workflows/{name}"): TENANT_READ,
    ("DELETE", "/v1/tenants/{tenant}/workflows/{name}/{version}"): TENANT_WRITE,
    ("POST", "/v1/tenants/{tenant}/workflows/{name}/execute"): TENANT_WRITE,
    ("POST", "/v1/tenants/{tenant}/workflows/{name}/pause"): TENANT_WRITE,
    ("POST", "/v1/tenants/{tenant}/workflows/{name}/resume"): TENANT_WRITE,
    ("GET", "/v1/tenants/{tenant}/workflows/{name}/source"): TENANT_READ,
    # the key's own tenant (an is_admin key may name another with ?tenant=)
    ("GET", "/v1/packages"): TENANT_READ,
    ("GET", "/v1/packages/{package_id}"): TENANT_READ,
    ("DELETE", "/v1/packages/{package_id}"): TENANT_WRITE,
    # -- executions (routes/executions.py) ------------------------------------------
    ("GET", "/v1/tenants/{tenant}/executions"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/executions/{exec_id}"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/executions/{exec_id}/events"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/executions/{exec_id}/events/stream"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/executions/{exec_id}/tasks"): TENANT_READ,
    # -- triggers (routes/triggers.py) ------------------------------------------------
    ("GET", "/v1/tenants/{tenant}/triggers"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/triggers/{name}"): TENANT_READ,
    ("GET", "/v1/tenants/{tenant}/triggers/{name}/interface"): TENANT_READ,
    ("POST", "/v1/tenants/{tenant}/triggers/{name}/pause"): TENANT_WRITE,
    ("POST", "/v1/tenants/{tenant}/triggers/{name}/resume"): TENANT_WRITE,
    ("POST", "/v1/tenants/{tenant}/triggers/{name}/fire"): TENANT_WRITE,
}

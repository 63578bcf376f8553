"""Which server a client command talks to, with which key (ADR-0003 §3 precedence).

1. ``--server`` / ``--api-key`` flags; 2. ``--profile``; 3. ``default_profile``;
4. error "no server/key configured".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloacinactl.config.apikey import resolve_api_key
from cloacinactl.config.schema import Config, Profile
from cloacinactl.errors import UserError

SETUP_HINT = "cloacinactl config profile set <NAME> --server <URL> --api-key <KEY> --default"


@dataclass(frozen=True)
class Target:
    """A resolved server URL and decoded API key, and the profile used (if any)."""

    server: str
    api_key: str
    profile: str | None = None


def select_profile(config: Config, profile_flag: str | None) -> Profile | None:
    """The profile named by ``--profile``, else ``default_profile``, else None."""
    name = profile_flag or config.default_profile
    if not name:
        return None
    profile = config.profiles.get(name)
    if profile is None:
        source = "--profile" if profile_flag else f"default_profile in {config.path}"
        known = ", ".join(sorted(config.profiles)) or "none"
        raise UserError(
            f"profile '{name}' (from {source}) does not exist (known profiles: {known})",
            hint=f"cloacinactl config profile set {name} --server <URL> --api-key <KEY>",
        )
    return profile


def resolve_target(
    config: Config,
    *,
    server: str | None = None,
    api_key: str | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Target:
    """Apply the precedence rules and decode the key's scheme."""
    chosen = None
    if profile is not None or server is None or api_key is None:
        chosen = select_profile(config, profile)
    url = server or (chosen.server if chosen else None)
    key = api_key or (chosen.api_key if chosen else None)
    if not url or not key:
        missing = " and ".join(what for what, val in (("server", url), ("API key", key)) if not val)
        where = f" (profile '{chosen.name}' has none)" if chosen else ""
        raise UserError(f"no server/key configured: missing {missing}{where}", hint=SETUP_HINT)
    env = os.environ if environ is None else environ
    return Target(
        server=url.rstrip("/"),
        api_key=resolve_api_key(key, environ=env),
        profile=chosen.name if chosen else None,
    )

"""Configuration: home layout, the typed config.toml, profiles, API keys, log filters.

Services call :func:`load_config` and get frozen dataclasses. Names are exported
lazily (PEP 562) so that importing one submodule, e.g. ``config.home``, does not
pay for all the others on the CLI's start-up path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from cloacinactl.config.apikey import resolve_api_key
    from cloacinactl.config.dburl import pick_database_url
    from cloacinactl.config.home import Home
    from cloacinactl.config.loader import load_config, parse_config
    from cloacinactl.config.logfilter import LogFilter, parse_filter, resolve_filter
    from cloacinactl.config.schema import (
        CompilerConfig,
        Config,
        DaemonConfig,
        Profile,
        WatchConfig,
    )
    from cloacinactl.config.target import Target, resolve_target

_EXPORTS = {
    "resolve_api_key": "apikey",
    "pick_database_url": "dburl",
    "Home": "home",
    "load_config": "loader",
    "parse_config": "loader",
    "LogFilter": "logfilter",
    "parse_filter": "logfilter",
    "resolve_filter": "logfilter",
    "CompilerConfig": "schema",
    "Config": "schema",
    "DaemonConfig": "schema",
    "Profile": "schema",
    "WatchConfig": "schema",
    "Target": "target",
    "resolve_target": "target",
}

__all__ = [
    "CompilerConfig",
    "Config",
    "DaemonConfig",
    "Home",
    "LogFilter",
    "Profile",
    "Target",
    "WatchConfig",
    "load_config",
    "parse_config",
    "parse_filter",
    "pick_database_url",
    "resolve_api_key",
    "resolve_filter",
    "resolve_target",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

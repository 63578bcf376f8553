"""Configuration: home layout, the typed config.toml, profiles, API keys, log filters.

Everything here is cheap to import (no tomlkit, no logging): services call
:func:`load_config` and get frozen dataclasses.
"""

from cloacinactl.config.apikey import resolve_api_key
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
    "resolve_api_key",
    "resolve_filter",
    "resolve_target",
]

"""The config.toml schema: every key the CLI reference documents, typed, with defaults.

This module is pure data: the key table used by the loader (validation) and by
``config get/set`` (type-preserving edits), and the frozen dataclasses every
service receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Kind = Literal["str", "int", "bool", "list[str]"]


@dataclass(frozen=True)
class Key:
    """One scalar or array key: its TOML type, default and lower bound."""

    kind: Kind
    default: Any = None
    minimum: int | None = None
    help: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not None


# Sections that are plain tables with a fixed set of keys ("" is the top level).
SECTIONS: dict[str, dict[str, Key]] = {
    "": {
        "database_url": Key("str", help="Database URL for admin and server commands."),
        "default_profile": Key("str", help="Profile used when --profile is not given."),
    },
    "daemon": {
        "poll_interval_ms": Key("int", 500, 1, "Reconciler fallback interval."),
        "log_level": Key("str", "info", help="Log filter: trace/debug/info/warn/error."),
        "shutdown_timeout_s": Key("int", 30, 0, "Graceful drain timeout."),
        "watcher_debounce_ms": Key("int", 500, 0, "Filesystem watcher debounce."),
        "trigger_poll_interval_ms": Key("int", 1000, 1, "Custom-poll trigger base interval."),
        "cron_max_catchup": Key("int", None, 0, "Max cron catch-up runs; absent = unlimited."),
        "cron_recovery_interval_s": Key("int", 300, 1, "Cron recovery sweeper cadence."),
        "cron_lost_threshold_min": Key("int", 10, 1, "Lost-task threshold before reclaim."),
    },
    "compiler": {
        "local_addr": Key("str", "127.0.0.1:9000", help="Address the compiler probes use."),
        # read by cloacina-compiler at start and on SIGHUP; its flags win
        "poll_interval_ms": Key("int", None, 1, "Build queue poll interval."),
        "heartbeat_interval_s": Key("int", None, 1, "Build heartbeat cadence."),
        "stale_threshold_s": Key("int", None, 1, "Heartbeat age that makes a build reclaimable."),
        "sweep_interval_s": Key("int", None, 1, "Stale-claim sweep cadence."),
        "log_level": Key("str", None, help="Compiler log filter (RUST_LOG and -v win)."),
    },
    "watch": {
        "directories": Key("list[str]", [], help="Extra package directories (~ expanded)."),
    },
    # srvcore
    "server": {
        "log_level": Key("str", help="Server log filter (under -v / RUST_LOG); SIGHUP re-reads."),
        "trusted_keys": Key(
            "list[str]", [], help="Public key files (.pub) the server trusts for signatures."
        ),
    },
}

# Keys of each ``[profiles.<name>]`` table.
PROFILE_KEYS: dict[str, Key] = {
    "server": Key("str", help="Server URL."),
    "api_key": Key("str", help="API key: raw, env:VAR or file:PATH."),
}

PROFILES = "profiles"


def lookup(dotted: str) -> Key | None:
    """The schema entry of a dotted key (``daemon.poll_interval_ms``), or None."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return SECTIONS[""].get(parts[0])
    if parts[0] == PROFILES:
        return PROFILE_KEYS.get(parts[2]) if len(parts) == 3 and parts[1] else None
    if len(parts) == 2 and parts[0] in SECTIONS and parts[0]:
        return SECTIONS[parts[0]].get(parts[1])
    return None


def all_keys() -> list[str]:
    """Every static dotted key, in schema order (profiles excluded)."""
    out = []
    for section, keys in SECTIONS.items():
        out += [f"{section}.{k}" if section else k for k in keys]
    return out


@dataclass(frozen=True)
class Profile:
    """A ``[profiles.<name>]`` block: where a client command goes, with which key."""

    name: str
    server: str | None = None
    api_key: str | None = None


@dataclass(frozen=True)
class DaemonConfig:
    poll_interval_ms: int = 500
    log_level: str = "info"
    shutdown_timeout_s: int = 30
    watcher_debounce_ms: int = 500
    trigger_poll_interval_ms: int = 1000
    cron_max_catchup: int | None = None
    cron_recovery_interval_s: int = 300
    cron_lost_threshold_min: int = 10


@dataclass(frozen=True)
class CompilerConfig:
    local_addr: str = "127.0.0.1:9000"
    poll_interval_ms: int | None = None
    heartbeat_interval_s: int | None = None
    stale_threshold_s: int | None = None
    sweep_interval_s: int | None = None
    log_level: str | None = None


@dataclass(frozen=True)
class WatchConfig:
    directories: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    trusted_keys: tuple[Path, ...] = ()
    log_level: str | None = None


@dataclass(frozen=True)
class Config:
    """The whole config.toml, validated; a missing file gives every default."""

    path: Path | None = None
    database_url: str | None = None
    default_profile: str | None = None
    profiles: Mapping[str, Profile] = field(default_factory=dict)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    compiler: CompilerConfig = field(default_factory=CompilerConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    server: ServerConfig = field(default_factory=ServerConfig)

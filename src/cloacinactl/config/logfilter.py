"""RUST_LOG-style log filters, parsed into levels per logger (pure; no logging import).

Grammar (as env_logger): comma-separated directives, each ``level``,
``target`` (meaning every level) or ``target=level``, optionally followed by
``/regex`` applying to the whole filter::

    info                      everything at info and above
    cloacina=debug            our loggers at debug, the rest at the default
    warn,cloacina::x=trace    warn globally, cloacinactl.x at trace

Targets use Rust paths (``::``) or Python dots; ``cloacina`` is our root, so it
matches every ``cloacinactl.*`` logger. Levels are the numbers shared by
``logging`` and loguru (TRACE 5, DEBUG 10, INFO 20, WARNING 30, ERROR 40); ``off``
silences. ``-v`` wins over everything (see :func:`resolve_filter`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cloacinactl.errors import ConfigError

TRACE, DEBUG, INFO, WARNING, ERROR, OFF = 5, 10, 20, 30, 40, 100
LEVELS: Mapping[str, int] = {
    "trace": TRACE,
    "debug": DEBUG,
    "info": INFO,
    "warn": WARNING,
    "warning": WARNING,
    "error": ERROR,
    "off": OFF,
}
# Names loguru knows for each number (logging uses the same numbers for DEBUG..ERROR).
LEVEL_NAMES: Mapping[int, str] = {
    TRACE: "TRACE",
    DEBUG: "DEBUG",
    INFO: "INFO",
    WARNING: "WARNING",
    ERROR: "ERROR",
    OFF: "OFF",
}
ROOT_ALIASES = ("cloacina", "cloacinactl")
ROOT = "cloacinactl"
_TARGET = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*((::|\.)[A-Za-z_][A-Za-z0-9_\-]*)*$")


def map_target(target: str) -> str:
    """The Python logger prefix of a RUST_LOG target: ``cloacina::x`` → ``cloacinactl.x``."""
    parts = target.replace("::", ".").split(".")
    if parts[0] in ROOT_ALIASES:
        parts[0] = ROOT
    return ".".join(parts)


def level_number(name: str) -> int:
    """The number of a level name (case-insensitive); ConfigError when unknown."""
    try:
        return LEVELS[name.strip().lower()]
    except KeyError:
        raise ConfigError(
            f"unknown log level '{name}'", hint="use trace, debug, info, warn, error or off"
        ) from None


@dataclass(frozen=True)
class LogFilter:
    """A parsed filter: a default level, per-logger-prefix levels, an optional regex."""

    default: int = INFO
    targets: tuple[tuple[str, int], ...] = ()  # longest prefix first
    pattern: str | None = None
    invalid: tuple[str, ...] = ()  # directives that were ignored (lenient parse)

    def level_for(self, logger: str) -> int:
        """The threshold for a logger name (``cloacinactl.cli.http``)."""
        for prefix, level in self.targets:
            if logger == prefix or logger.startswith(prefix + "."):
                return level
        return self.default

    def enabled(self, logger: str, level: int, message: str = "") -> bool:
        """Whether a record of ``level`` from ``logger`` passes the filter."""
        if level < self.level_for(logger):
            return False
        return self.pattern is None or re.search(self.pattern, message) is not None

    @property
    def min_level(self) -> int:
        """The lowest level any logger may emit (the handler threshold)."""
        return min([self.default, *(level for _, level in self.targets)])


def parse_filter(spec: str | None, *, default: int = INFO, strict: bool = False) -> LogFilter:
    """Parse a RUST_LOG directive string.

    Empty or None gives ``default``. Bad directives are ignored and listed in
    ``invalid`` (as env_logger does), or raise ConfigError when ``strict``; strict
    mode also refuses a bare target (``loud``), which is most likely a typo.
    """
    if not spec or not spec.strip():
        return LogFilter(default=default)
    text, _, pattern = spec.partition("/")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            if strict:
                raise ConfigError(f"invalid log filter regex '{pattern}': {exc}") from None
            pattern = ""
    level = default
    targets: dict[str, int] = {}
    invalid: list[str] = []
    for raw in text.split(","):
        directive = raw.strip()
        if not directive:
            continue
        name, eq, value = directive.partition("=")
        name, value = name.strip(), value.strip()
        if not eq and name.lower() in LEVELS:
            level = LEVELS[name.lower()]
        elif not _TARGET.match(name) or (eq and value.lower() not in LEVELS) or (strict and not eq):
            invalid.append(directive)
        else:
            targets[map_target(name)] = LEVELS[value.lower()] if eq else TRACE
    if invalid and strict:
        raise ConfigError(
            f"invalid log filter directive '{invalid[0]}'",
            hint="use e.g. info, debug, cloacina=debug or warn,cloacina::x=trace",
        )
    ordered = tuple(sorted(targets.items(), key=lambda item: -len(item[0])))
    return LogFilter(level, ordered, pattern or None, tuple(invalid))


def resolve_filter(
    *,
    verbose: bool,
    env: str | None,
    configured: str | None = None,
    default: int = INFO,
) -> LogFilter:
    """The effective filter: ``-v`` (debug) wins, then RUST_LOG, then config, then default."""
    if verbose:
        return LogFilter(default=DEBUG)
    if env and env.strip():
        return parse_filter(env, default=default)
    if configured and configured.strip():
        return parse_filter(configured, default=default)
    return LogFilter(default=default)

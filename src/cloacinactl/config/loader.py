"""Load and validate ``<home>/config.toml`` into the frozen :class:`Config`.

Unknown keys and wrong types are :class:`ConfigError` (exit 1) naming the file,
the dotted key and its line. A missing file gives every default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.config.schema import (
    PROFILE_KEYS,
    PROFILES,
    SECTIONS,
    CompilerConfig,
    Config,
    DaemonConfig,
    Key,
    Profile,
    ServerConfig,
    WatchConfig,
)
from cloacinactl.errors import ConfigError

if TYPE_CHECKING:
    from cloacinactl.config.home import Home

# tomllib, the line locator and the log-filter parser are imported where used:
# with no config.toml (or no [daemon] log_level) nothing needs them, and
# ``status`` / ``X stop`` should not pay for them.

_TYPE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "a boolean",
    "list[str]": "an array of strings",
}


def read_text(path: Path) -> str | None:
    """The file's text, None when it does not exist; other I/O errors are exit 1."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


class _Checker:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, parts: list[str], message: str, hint: str | None = None) -> ConfigError:
        from cloacinactl.config.locate import find_line

        line = find_line(self.text, parts)
        where = f"{self.path}:{line}" if line else str(self.path)
        return ConfigError(f"{where}: {message}", hint=hint)

    def unknown(self, parts: list[str], known: Mapping[str, Any]) -> ConfigError:
        dotted = ".".join(parts)
        import difflib

        close = difflib.get_close_matches(parts[-1], list(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
        return self.fail(parts, f"unknown key '{dotted}'", hint)

    def value(self, parts: list[str], spec: Key, raw: Any) -> Any:
        ok = {
            "str": isinstance(raw, str),
            "int": isinstance(raw, int) and not isinstance(raw, bool),
            "bool": isinstance(raw, bool),
            "list[str]": isinstance(raw, list) and all(isinstance(v, str) for v in raw),
        }[spec.kind]
        dotted = ".".join(parts)
        if not ok:
            raise self.fail(parts, f"'{dotted}' must be {_TYPE_NAMES[spec.kind]}, got {raw!r}")
        if spec.minimum is not None and raw < spec.minimum:
            raise self.fail(parts, f"'{dotted}' must be >= {spec.minimum}, got {raw}")
        return raw

    def table(self, parts: list[str], raw: Any, keys: Mapping[str, Key]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(parts, f"'{'.'.join(parts)}' must be a table")
        out: dict[str, Any] = {}
        for name, value in raw.items():
            spec = keys.get(name)
            if spec is None:
                raise self.unknown([*parts, name], keys)
            out[name] = self.value([*parts, name], spec, value)
        return out


def _expand(directory: str, base: Path) -> Path:
    path = Path(os.path.expanduser(directory))
    return path if path.is_absolute() else base / path


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML ``text`` (read from ``path``) into a :class:`Config`."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    check = _Checker(path, text)
    known: dict[str, Any] = {**SECTIONS[""], PROFILES: None}
    known.update({name: None for name in SECTIONS if name})
    top = {k: v for k, v in data.items() if k in SECTIONS[""]}
    top = check.table([], top, SECTIONS[""])
    sections: dict[str, dict[str, Any]] = {}
    profiles: dict[str, Profile] = {}
    for name, raw in data.items():
        if name in SECTIONS[""]:
            continue
        if name == PROFILES:
            if not isinstance(raw, dict):
                raise check.fail([name], "'profiles' must be a table of [profiles.<name>] tables")
            for pname, praw in raw.items():
                values = check.table([name, pname], praw, PROFILE_KEYS)
                profiles[pname] = Profile(name=pname, **values)
        elif name in SECTIONS:
            sections[name] = check.table([name], raw, SECTIONS[name])
        else:
            raise check.unknown([name], known)
    for section in ("daemon", "compiler", "server"):
        level = sections.get(section, {}).get("log_level")
        if level is not None:
            from cloacinactl.config.logfilter import parse_filter

            try:
                parse_filter(level, strict=True)
            except ConfigError as exc:
                raise check.fail([section, "log_level"], exc.message, exc.hint) from None
    watch = sections.get("watch", {})
    dirs = tuple(_expand(d, path.parent) for d in watch.get("directories", []))
    return Config(
        path=path,
        database_url=top.get("database_url"),
        default_profile=top.get("default_profile"),
        profiles=profiles,
        daemon=DaemonConfig(**sections.get("daemon", {})),
        compiler=CompilerConfig(**sections.get("compiler", {})),
        watch=WatchConfig(directories=dirs),
        server=ServerConfig(
            trusted_keys=tuple(
                _expand(k, path.parent) for k in sections.get("server", {}).get("trusted_keys", [])
            ),
            log_level=sections.get("server", {}).get("log_level"),
        ),
    )


def load_config(home: Home) -> Config:
    """The validated ``<home>/config.toml``; all defaults when the file is missing."""
    path = home.config_file
    text = read_text(path)
    if text is None:
        return Config(path=path)
    return parse_config(text, path)

"""Type-preserving, layout-preserving edits of config.toml (tomlkit), written atomically.

The pure functions take and return TOML text; :func:`edit_config` wraps them in
read → edit → validate → atomic replace under an exclusive lock, so concurrent
``config set`` calls never lose an update and a crash never leaves a torn file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cloacinactl.config.home import Home
from cloacinactl.config.loader import parse_config, read_text
from cloacinactl.config.schema import PROFILES, Key, lookup
from cloacinactl.errors import ConfigError, UserError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def split_dotted(dotted: str) -> list[str]:
    """``daemon.poll_interval_ms`` → parts; ConfigError when the key is not in the schema."""
    parts = dotted.split(".")
    if lookup(dotted) is None or not all(parts):
        raise ConfigError(
            f"unknown config key '{dotted}'",
            hint="see `cloacinactl config list` for every key",
        )
    return parts


def coerce(spec: Key, dotted: str, raw: str) -> Any:
    """Turn a command-line string into the schema's type for ``dotted``."""
    if spec.kind == "int":
        try:
            value = int(raw.strip())
        except ValueError:
            raise UserError(f"'{dotted}' takes an integer, got '{raw}'") from None
        if spec.minimum is not None and value < spec.minimum:
            raise UserError(f"'{dotted}' must be >= {spec.minimum}, got {value}")
        return value
    if spec.kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise UserError(f"'{dotted}' takes true or false, got '{raw}'")
    if spec.kind == "list[str]":
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def parse_document(text: str | None) -> Any:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        return tomlkit.parse(text or "")
    except ParseError as exc:
        raise ConfigError(f"config.toml is not valid TOML: {exc}") from None


class _Builder:
    """Adds missing tables to a document, one blank line between tables."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.pending: list[tuple[Any, str]] = []  # new sub-tables, their top-level key

    def _separate(self, last_top: str | None) -> None:
        import tomlkit

        for table, top in self.pending:
            if top != last_top:  # something follows: keep a blank line before it
                table.add(tomlkit.nl())
        self.pending = []

    def new_table(self, parent: Any, name: str, top: str, *, super_table: bool) -> Any:
        import tomlkit

        table = tomlkit.table(is_super_table=super_table)
        if parent is self.doc:
            self._separate(last_top=None)
            before = str(self.doc.as_string())
        else:
            siblings = [v for v in parent.values() if isinstance(v, tomlkit.items.Table)]
            before = str(siblings[-1].as_string()) if siblings else str(self.doc.as_string())
            self.pending.append((table, top))
        if before and not before.endswith("\n\n"):
            table.trivia.indent = "\n" if before.endswith("\n") else "\n\n"
        parent.add(name, table)
        return parent[name]

    def finish(self) -> str:
        keys = list(self.doc.keys())
        self._separate(last_top=keys[-1] if keys else None)
        return str(self.doc.as_string())


def set_values(text: str | None, values: Sequence[tuple[Sequence[str], Any]]) -> str:
    """Set each key path to its value; every other byte of ``text`` is kept."""
    builder = _Builder(parse_document(text))
    for parts, value in values:
        container = builder.doc
        for depth, part in enumerate(parts[:-1]):
            if part not in container:
                supert = depth == 0 and part == PROFILES
                container = builder.new_table(container, part, parts[0], super_table=supert)
            else:
                container = container[part]
        container[parts[-1]] = value
    return builder.finish()


def unset_value(text: str | None, parts: Sequence[str]) -> tuple[str, bool]:
    """Remove a key (or a whole table); returns the text and whether it was there."""
    doc = parse_document(text)
    container = doc
    for part in parts[:-1]:
        if part not in container:
            return str(doc.as_string()), False
        container = container[part]
    if parts[-1] not in container:
        return str(doc.as_string()), False
    del container[parts[-1]]
    if len(parts) > 1 and parts[0] == PROFILES and PROFILES in doc and not doc[PROFILES]:
        del doc[PROFILES]
    return str(doc.as_string()), True


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` via a synced temp file and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(home: Home) -> Iterator[None]:
    lock_path = home.root / ".config.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def edit_config(home: Home, change: Callable[[str | None], str]) -> str:
    """Apply ``change`` to the file's text under a lock; validate; write atomically.

    Creates home (0700) and the file (0600) on first use. Returns the new text.
    """
    home.ensure()
    # A symlinked config.toml (dotfiles) stays a symlink: replace its target.
    path = Path(os.path.realpath(home.config_file))
    try:
        with _locked(home):
            old = read_text(path)
            new = change(old)
            parse_config(new, path)  # never store a file the loader would reject
            if new != old:
                mode = 0o600 if old is None else (path.stat().st_mode & 0o777)
                write_atomic(path, new, mode=mode)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return new

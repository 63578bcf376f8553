"""Completion tables: per command path, the data every shell's script is built from.

For each path of the parser tree (``""`` is the root): its sub-commands (with
help) and positional choices, its flags, the flags that take a value, and the
value choices of a flag (``"*"`` as the path: a global flag, valid anywhere).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloacinactl.cli.framework import Command


class Tables:
    """Per-path completion data, from the command tree."""

    def __init__(self, root: Command) -> None:
        self.global_flags = [n for o in root.options for n in o.names]
        self.global_values = [n for o in root.options if o.takes_value for n in o.names]
        self.paths: dict[str, Command] = {" ".join(c.path): c for c in root.walk()}
        self.choices: dict[str, tuple[str, ...]] = {}  # "path|flag" (path "*" = any)
        for option in root.options:
            for name in option.names:
                if option.choices:
                    self.choices[f"*|{name}"] = option.choices
        for key, cmd in self.paths.items():
            if not key:
                continue
            for option in cmd.options:
                for name in option.names:
                    if option.choices:
                        self.choices[f"{key}|{name}"] = option.choices

    def words(self, key: str) -> list[tuple[str, str]]:
        cmd = self.paths[key]
        return [(n, c.help) for n, c in cmd.children.items()] + [(w, "") for w in cmd.choices]

    def flags(self, key: str) -> list[str]:
        own = [n for o in self.paths[key].options for n in o.names] if key else []
        return own + [f for f in self.global_flags if f not in own]

    def value_flags(self, key: str) -> list[str]:
        cmd = self.paths[key]
        own = [n for o in cmd.options if o.takes_value for n in o.names] if key else []
        return own + self.global_values

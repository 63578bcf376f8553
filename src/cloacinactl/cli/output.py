"""The one output renderer: table, json, yaml and id (``-o``), used by every command.

``render(data, fmt)`` takes what a command wants to show — a list of objects,
one object, or a scalar — and returns the text to print. Tables infer their
columns from the first object's keys, cut long cells with ``…`` to fit the
terminal, and colour only when allowed (a TTY, no ``--no-color``, no NO_COLOR).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import IO, Any

from cloacinactl.errors import UserError

FORMATS = ("table", "json", "yaml", "id")
ELLIPSIS = "…"
MIN_COLUMN = 6
GAP = "  "
BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
GREEN, RED, YELLOW = "\033[32m", "\033[31m", "\033[33m"
_STATE_COLOURS = {
    GREEN: {"healthy", "running", "completed", "ok", "up", "true", "ready", "active"},
    RED: {"unhealthy", "failed", "down", "error", "fatal", "false", "unreachable", "stopped"},
    YELLOW: {"pending", "paused", "degraded", "starting", "stopping", "backoff", "skipped"},
}


def plain(value: Any) -> Any:
    """Turn dataclasses, paths, datetimes, enums, tuples and sets into JSON-able data."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def colour_allowed(stream: IO[str], no_color: bool, environ: Mapping[str, str]) -> bool:
    """Colour only on a TTY, and never with --no-color or a non-empty NO_COLOR."""
    if no_color or environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def cell(value: Any) -> str:
    """A compact one-line form of any value (nested data as compact JSON)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return " ".join(value.split()) if "\n" in value or "\t" in value else value
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``…`` when shortened."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + ELLIPSIS


def fit(widths: list[int], total: int) -> list[int]:
    """Shrink the widest columns until the row (with gaps) fits ``total``."""
    widths = list(widths)
    budget = total - len(GAP) * (len(widths) - 1)
    while sum(widths) > budget:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    return widths


def _paint(text: str, raw: str, colour: bool) -> str:
    if not colour:
        return text
    word = raw.strip().lower()
    for code, words in _STATE_COLOURS.items():
        if word in words:
            return f"{code}{text}{RESET}"
    return text


def table(
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    width: int = 120,
    colour: bool = False,
    headers: bool = True,
) -> str:
    """Aligned columns; the last column is not padded."""
    if not rows:
        return ""
    cols = list(columns) if columns else list(rows[0].keys())
    matrix = [[cell(row.get(c)) for c in cols] for row in rows]
    head = [c.upper().replace("_", " ") for c in cols]
    sized = [head, *matrix] if headers else matrix
    widths = fit([max(len(r[i]) for r in sized) for i in range(len(cols))], width)
    lines = []
    if headers:
        text = GAP.join(cut(h, w).ljust(w) for h, w in zip(head, widths, strict=True))
        lines.append(f"{BOLD}{text.rstrip()}{RESET}" if colour else text.rstrip())
    for values in matrix:
        parts = []
        for i, (value, w) in enumerate(zip(values, widths, strict=True)):
            shown = cut(value, w)
            padded = shown if i == len(values) - 1 else shown.ljust(w)
            parts.append(_paint(padded, value, colour))
        lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines) + "\n"


def ids(data: Any) -> str:
    """One id per line: each object's ``id``, else ``name``, else ``key``."""
    items = data if isinstance(data, list) else [data]
    out = []
    for item in items:
        if isinstance(item, dict):
            for field in ("id", "name", "key"):
                if item.get(field) is not None:
                    out.append(str(item[field]))
                    break
            else:
                raise UserError(
                    "cannot print -o id: an object has no id or name field",
                    hint="use -o table, json or yaml",
                )
        elif item is not None:
            out.append(str(item))
    return "".join(f"{line}\n" for line in out)


def render(
    data: Any,
    fmt: str = "table",
    *,
    columns: Sequence[str] | None = None,
    width: int | None = None,
    colour: bool = False,
) -> str:
    """The text for ``data`` in ``fmt`` (table, json, yaml, id)."""
    data = plain(data)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 16))
    if fmt == "id":
        return ids(data)
    if fmt != "table":
        raise UserError(f"unknown output format '{fmt}'", hint="use " + ", ".join(FORMATS))
    if width is None:
        width = shutil.get_terminal_size((120, 24)).columns
    if isinstance(data, dict):
        pairs = [{"key": k, "value": v} for k, v in data.items()]
        return table(pairs, width=width, colour=colour, headers=False)
    if isinstance(data, list):
        if data and all(isinstance(row, dict) for row in data):
            return table(data, columns=columns, width=width, colour=colour)
        return "".join(f"{cut(cell(v), width)}\n" for v in data)
    return "" if data is None else f"{cell(data)}\n"


def emit(
    data: Any,
    fmt: str,
    stream: IO[str],
    *,
    no_color: bool = False,
    columns: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Render ``data`` and write it to ``stream``."""
    env = os.environ if environ is None else environ
    colour = fmt == "table" and colour_allowed(stream, no_color, env)
    stream.write(render(data, fmt, columns=columns, colour=colour))
    stream.flush()
    if fmt == "table" and isinstance(data, list | tuple) and not data:
        print("(no items)", file=sys.stderr)

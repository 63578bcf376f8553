"""Find the line of a key in TOML text, so config errors can name it.

tomllib does not keep positions, so this scans the text: table headers set the
current path, ``key = value`` lines complete it. It is deliberately forgiving:
when the exact key cannot be placed (inline tables, odd layouts) the caller gets
the line of the closest enclosing table it can find, or None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_HEADER = re.compile(r"^\s*\[\[?(?P<key>[^\]]*)\]\]?\s*(#.*)?$")


def split_key(text: str) -> list[str] | None:
    """Split a TOML key (``a."b.c".d``) into its parts; None if it is not a key."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        ch = text[i]
        if ch in "\"'":
            end = text.find(ch, i + 1)
            if end < 0:
                return None
            raw = text[i + 1 : end]
            parts.append(raw.replace('\\"', '"') if ch == '"' else raw)
            i = end + 1
        else:
            match = _BARE.match(text, i)
            if not match:
                return None
            parts.append(match.group())
            i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return parts
        if text[i] != ".":
            return None
        i += 1


def _key_part(line: str) -> list[str] | None:
    """The key of a ``key = value`` line, or None."""
    depth_quote = ""
    for i, ch in enumerate(line):
        if depth_quote:
            if ch == depth_quote:
                depth_quote = ""
        elif ch in "\"'":
            depth_quote = ch
        elif ch == "=":
            return split_key(line[:i])
        elif ch == "#":
            return None
    return None


def find_line(text: str, path: Sequence[str]) -> int | None:
    """1-based line where ``path`` (or its nearest found ancestor) is defined."""
    target = list(path)
    best: tuple[int, int] | None = None  # (matched length, line)
    table: list[str] = []
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header and stripped.startswith("["):
            parts = split_key(header.group("key"))
            if parts is None:
                continue
            table = parts
            full = parts
        else:
            key = _key_part(line)
            if key is None:
                continue
            full = table + key
            for quote in ('"""', "'''"):
                if line.count(quote) == 1:
                    in_multiline = quote
        common = 0
        for a, b in zip(full, target, strict=False):
            if a != b:
                break
            common += 1
        if common == len(target):
            return number
        if common == len(full) and (best is None or common > best[0]):
            best = (common, number)
    return best[1] if best else None

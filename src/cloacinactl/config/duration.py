"""The duration grammar shared by ``--older-than``, ``--since`` and ``--interval`` (pure)."""

from __future__ import annotations

import datetime as dt
import re

from cloacinactl.errors import UserError

_PART = re.compile(r"(\d+)([dhms])")
_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
DURATION_HINT = "combine d/h/m/s, e.g. 90d, 7d12h, 1d2h30m45s"


def parse_duration(text: str) -> dt.timedelta:
    """``90d``, ``7d12h``, ``1d2h30m45s``: case-insensitive, each unit once, in d/h/m/s
    order, total > 0. Anything else is a UserError naming the input."""
    raw = text.strip().lower()
    if not raw:
        raise UserError("invalid duration '': it is empty", hint=DURATION_HINT)
    pos = 0
    seconds = 0
    seen: list[str] = []
    while pos < len(raw):
        match = _PART.match(raw, pos)
        if match is None:
            raise UserError(f"invalid duration {text!r}", hint=DURATION_HINT)
        unit = match.group(2)
        if seen and "dhms".index(unit) <= "dhms".index(seen[-1]):
            raise UserError(
                f"invalid duration {text!r}: units must appear once, in d, h, m, s order",
                hint=DURATION_HINT,
            )
        seen.append(unit)
        seconds += int(match.group(1)) * _UNIT_S[unit]
        pos = match.end()
    if seconds <= 0:
        raise UserError(f"invalid duration {text!r}: it must be greater than zero")
    try:
        return dt.timedelta(seconds=seconds)
    except OverflowError:
        raise UserError(f"invalid duration {text!r}: too large") from None

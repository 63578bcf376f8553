"""Compact JSON encoding with the stdlib's C encoder built once, and decoding with
its C scanner called directly.

``json.dumps`` (and ``JSONEncoder.encode``) build a fresh C encoder on every
call, which costs as much as encoding a small message; the engine's hot paths
(event rows, worker frames) encode thousands per second. ``json.loads`` wraps
its scanner in two whitespace matches and a Python-level call.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable, Iterator, Mapping
from typing import Any


def compact_dumps(
    *, ascii_only: bool, check_circular: bool, sort_keys: bool = False
) -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only,
    check_circular=check_circular, sort_keys=sort_keys)``, with the encoder built
    once (pure Python if the C accelerator is missing)."""
    fallback = json.JSONEncoder(
        separators=(",", ":"),
        ensure_ascii=ascii_only,
        check_circular=check_circular,
        sort_keys=sort_keys,
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return fallback.encode
    # the module-level names are the C versions when the accelerator is there
    escape = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring
    markers: dict[int, Any] | None = {} if check_circular else None
    encode = make(markers, fallback.default, escape, None, ":", ",", sort_keys, False, True)

    def dumps(value: Any) -> str:
        try:
            return "".join(encode(value, 0))
        except BaseException:
            if markers is not None:
                markers.clear()  # a failed encode leaves its open containers marked
            raise

    return dumps


def scanner_loads() -> Callable[[str], Any]:
    """``json.loads`` for text as this project stores it (no surrounding whitespace):
    the stdlib's scanner called directly; anything else (whitespace, trailing data,
    an error) goes through ``json.loads``, which decides or raises as usual."""
    # (the stub types make_scanner as a class taking itself; it takes a decoder)
    decoder = json.JSONDecoder()
    scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(decoder)  # type: ignore[arg-type]

    def loads(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return json.loads(text)
        if end != len(text):
            return json.loads(text)
        return value

    return loads


_loads = scanner_loads()


class JsonText(Mapping[str, Any]):
    """A JSON object kept as the text it was stored as, decoded only when read.

    A task's input goes from the database to a worker: passed on as its stored
    text, it is neither decoded at the claim nor checked and encoded again for
    the worker's frame (three passes over a large context). Outputs read back for
    an advance are decoded only if a merge reads them, and a task whose input is
    one dependency's output is stored with that output's text. Read as a
    mapping, it decodes once.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str, value: dict[str, Any] | None = None) -> None:
        """``value``: the object ``text`` encodes, when the caller has both."""
        self.text = text
        self._value = value

    @property
    def value(self) -> dict[str, Any]:
        """The decoded object (decoded on first use)."""
        if self._value is None:
            decoded = _loads(self.text)
            if not isinstance(decoded, dict):
                raise ValueError(f"stored JSON is not an object: {self.text[:40]!r}")
            self._value = decoded
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self.value[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        return f"JsonText({self.text!r})"

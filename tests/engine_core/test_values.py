"""``@value`` records: plain dataclasses at run time, frozen to the type checker."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from cloacinactl.values import value


@value
class Point:
    x: int
    y: int = 0


@value(slots=True)
class Slotted:
    name: str


def test_compares_hashes_and_replaces_like_a_frozen_dataclass() -> None:
    assert Point(1, 2) == Point(1, 2)
    assert Point(1) != Point(2)
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert len({Point(1), Point(1), Point(2)}) == 2
    assert dataclasses.replace(Point(1, 2), y=5) == Point(1, 5)
    assert Slotted("a") == Slotted("a") and not hasattr(Slotted("a"), "__dict__")


def test_a_record_holding_a_dict_is_unhashable_as_a_frozen_one_is() -> None:
    @value
    class Holder:
        data: dict[str, int]

    with pytest.raises(TypeError):
        hash(Holder({"a": 1}))


def test_the_type_checker_rejects_assigning_a_field(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from cloacinactl.values import value

            @value
            class P:
                x: int

            P(1).x = 2
            """
        )
    )
    out, _, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(snippet)]
    )
    assert status == 1, out
    assert 'Property "x" defined in "P" is read-only' in out

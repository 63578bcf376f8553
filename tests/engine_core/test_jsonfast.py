"""The hot path's JSON helpers read and write exactly what the stdlib does."""

from __future__ import annotations

import json

import pytest

from cloacinactl.jsonfast import JsonText, compact_dumps, scanner_loads

VALUES = [
    {},
    {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "é\n\u2603"}},
    [],
    "text",
    0,
    -1.5e300,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_round_trip_matches_the_stdlib(value: object) -> None:
    dumps = compact_dumps(ascii_only=True, check_circular=False)
    text = dumps(value)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    assert scanner_loads()(text) == json.loads(text) == value


@pytest.mark.parametrize("value", VALUES)
def test_sorted_keys_match_the_stdlib(value: object) -> None:
    dumps = compact_dumps(ascii_only=True, check_circular=True, sort_keys=True)
    nested = {"z": value, "a": [value, {"y": 1, "b": value}]}
    expected = json.dumps(nested, separators=(",", ":"), sort_keys=True)
    assert dumps(nested) == expected


@pytest.mark.parametrize("text", [' {"a": 1}', '{"a": 1} ', "\n[1]\n", "NaN"])
def test_loads_takes_what_the_stdlib_takes(text: str) -> None:
    loaded = scanner_loads()(text)
    expected = json.loads(text)
    assert loaded == expected or (loaded != loaded and expected != expected)  # NaN


@pytest.mark.parametrize("text", ["", "{", '{"a":1}x', "[1,]", "nan"])
def test_loads_refuses_what_the_stdlib_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as mine:
        scanner_loads()(text)
    with pytest.raises(json.JSONDecodeError) as theirs:
        json.loads(text)
    assert str(mine.value) == str(theirs.value)


def test_stored_json_is_stored_as_its_text() -> None:
    from cloacinactl.store.fastsql import dumps, stored_json

    text = '{"b":1, "a":[true]}'  # not how the store would encode it: kept anyway
    assert dumps(JsonText(text)) == text
    value = {"é": [1.0, None]}
    stored = stored_json(value)
    assert stored.text == dumps(value) and stored.value is value and stored == value
    assert stored_json({}).text == "{}"

"""The pure redactor: secret values masked in reports, found in outputs."""

from __future__ import annotations

from cloacinactl.workers.redact import MASK, Redactor


def test_masks_longest_first_everywhere() -> None:
    r = Redactor.of({"db": {"password": "abcd", "dsn": "user:abcd@host"}, "k": {"v": "xyz"}})
    assert r.text("dsn=user:abcd@host pw=abcd short=xyz") == f"dsn={MASK} pw={MASK} short=xyz"
    assert r.deep({"abcd": ["pw abcd", 3, None]}) == {MASK: [f"pw {MASK}", 3, None]}
    assert "abcd" not in repr(r)


def test_finds_a_leak_and_names_the_slot() -> None:
    r = Redactor.of({"db": {"password": "hunter22"}})
    assert r.leaked_slot({"a": [{"b": "x hunter22 y"}]}) == "db"
    assert r.leaked_slot({"hunter22": 1}) == "db"
    assert r.leaked_slot({"a": ["hunter2"], "n": 5}) is None
    assert not Redactor.of({}) and not Redactor.of(None)

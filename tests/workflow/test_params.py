"""The pure input check: declared params and secret slots against a run's context."""

from __future__ import annotations

import pytest

from cloacinactl.workflow import bindings_of, check_input, secret_ref
from cloacinactl.workflow.model import ParamSlot

PARAMS = (
    ParamSlot("source", "str"),
    ParamSlot("batch", "int", required=False, default=500),
    ParamSlot("ratio", "float", required=False, default=0.5),
    ParamSlot("tags", "list", required=False, default=["a"]),
)


def test_defaults_are_filled_and_extra_keys_pass_through() -> None:
    checked = check_input(PARAMS, (), {"source": "s3://x", "other": {"k": 1}})
    assert checked.ok
    assert checked.context == {
        "source": "s3://x",
        "other": {"k": 1},
        "batch": 500,
        "ratio": 0.5,
        "tags": ["a"],
    }
    # a default is copied, never shared between runs
    checked.context["tags"].append("b")
    assert check_input(PARAMS, (), {"source": "x"}).context["tags"] == ["a"]


def test_every_problem_is_named_without_echoing_values() -> None:
    checked = check_input(PARAMS, (), {"batch": "hunter2-password", "ratio": True})
    assert not checked.ok
    assert checked.problems == (
        "missing required param 'source' (str)",
        "param 'batch' must be int, got str",
        "param 'ratio' must be float, got bool",
    )
    message = checked.message("etl")
    assert message.startswith("workflow 'etl' input is invalid: missing required param 'source'")
    assert "hunter2" not in message
    assert checked.context == {"batch": "hunter2-password", "ratio": True}  # unchanged


@pytest.mark.parametrize(
    ("declared", "value", "ok"),
    [
        ("int", 3, True),
        ("int", True, False),
        ("int", 3.0, False),
        ("float", 3, True),
        ("float", 2.5, True),
        ("bool", 0, False),
        ("str", None, False),
        ("dict", {"a": 1}, True),
        ("list", {"a": 1}, False),
        ("any", None, True),
    ],
)
def test_types(declared: str, value: object, ok: bool) -> None:
    assert check_input([ParamSlot("p", declared)], (), {"p": value}).ok is ok


def test_secret_slots_bind_by_reference_only() -> None:
    checked = check_input((), ("db", "api"), {"db": {"$secret": "prod-db"}})
    assert checked.ok
    assert checked.bindings == {"db": "prod-db", "api": "api"}
    # the default binding is written out: the durable record names what ran
    assert checked.context == {"db": {"$secret": "prod-db"}, "api": {"$secret": "api"}}
    assert bindings_of(("db", "api"), checked.context) == checked.bindings


def test_secret_slot_problems() -> None:
    checked = check_input(
        [ParamSlot("n", "dict")],
        ("literal", "malformed", "extra"),
        {
            "literal": "sk-live-123456",
            "malformed": {"$secret": 7},
            "extra": {"$secret": "ok", "field": "x"},
            "n": {"$secret": "x"},
            "stray": {"$secret": "x"},
        },
    )
    assert checked.problems == (
        "param 'n' is not a secret slot and cannot take a {'$secret': ...} binding",
        "secret slot 'literal' takes a binding {'$secret': \"<secret name>\"}, not a literal value",
        "secret slot 'malformed': the binding must be exactly {'$secret': \"<secret name>\"} "
        "with a name of letters, digits, _ . -",
        "secret slot 'extra': the binding must be exactly {'$secret': \"<secret name>\"} "
        "with a name of letters, digits, _ . -",
        "'stray' binds a secret but the workflow declares no secret slot 'stray'",
    )
    assert "sk-live" not in checked.message("w")


@pytest.mark.parametrize("name", ["", "../x", "a/b", "x" * 129, "a\x00b", " lead"])
def test_secret_names_are_restricted(name: str) -> None:
    assert secret_ref({"$secret": name}) is None


def test_unbound_slot_with_unusable_name_is_a_problem() -> None:
    checked = check_input((), ("my slot",), {})
    assert checked.problems == (
        "secret slot 'my slot' is not bound (bind it with {'$secret': name})",
    )

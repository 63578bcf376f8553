import math

import pytest

from cloacinactl.workflow import Context, ContextError


def test_every_method():
    ctx = Context({"a": 1})
    assert ctx.get("a") == 1 and ctx.get("zz") is None and ctx.get("zz", 7) == 7
    ctx.set("b", [1, 2])
    ctx.insert("c", {"x": "y"})
    with pytest.raises(ContextError, match="'c' already exists"):
        ctx.insert("c", 1)
    ctx.update("c", 3)
    with pytest.raises(KeyError, match="does not exist"):
        ctx.update("nope", 1)
    assert ctx["c"] == 3 and len(ctx) == 3 and "b" in ctx and "nope" not in ctx
    ctx["d"] = True
    del ctx["d"]
    with pytest.raises(KeyError):
        del ctx["d"]
    with pytest.raises(KeyError):
        ctx["d"]
    assert ctx.remove("b") == [1, 2] and ctx.remove("b") is None
    ctx.update_from_dict({"e": None, "a": 2})
    assert ctx.to_dict() == {"a": 2, "c": 3, "e": None}
    back = Context.from_json(ctx.to_json())
    assert back == ctx and back.to_dict() == {"a": 2, "c": 3, "e": None}
    assert sorted(ctx) == ["a", "c", "e"]


def test_values_are_copied_and_tuples_become_lists():
    data = {"l": [1]}
    ctx = Context()
    ctx.set("d", data)
    data["l"].append(2)
    assert ctx["d"] == {"l": [1]}
    ctx.set("t", (1, (2, 3)))
    assert ctx["t"] == [1, [2, 3]]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (object(), "context value 'k' is a builtins.object, not a JSON value"),
        ({"x": {1, 2}}, "context value 'k'['x'] is a builtins.set"),
        ([1, b"b"], "context value 'k'[1] is a builtins.bytes"),
        ({1: "a"}, "has key 1 of type int"),
        (math.nan, "JSON cannot represent"),
        (math.inf, "JSON cannot represent"),
    ],
)
def test_non_json_values_are_clear_errors(value, fragment):
    ctx = Context()
    with pytest.raises(ContextError) as err:
        ctx.set("k", value)
    assert fragment in str(err.value)
    assert "k" not in ctx


def test_update_from_dict_is_all_or_nothing_and_keys_must_be_strings():
    ctx = Context({"a": 1})
    with pytest.raises(ContextError):
        ctx.update_from_dict({"b": 2, "c": object()})
    assert ctx.to_dict() == {"a": 1}
    with pytest.raises(ContextError, match="keys are strings"):
        ctx.set(3, 1)  # type: ignore[arg-type]
    with pytest.raises(ContextError, match="JSON object"):
        Context.from_json("[1]")
    with pytest.raises(ContextError, match="takes a dict"):
        Context([1, 2])  # type: ignore[arg-type]

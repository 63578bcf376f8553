"""Context merge of design §9: objects deep-merge, arrays union, scalars last-writer-wins."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from typing import Any

from cloacinactl.jsonfast import JsonText, compact_dumps

# an array element's identity: its canonical JSON (sorted keys, compact), with the C
# encoder built once (json.dumps builds a new one per call: 3-4x the cost per element)
_key = compact_dumps(ascii_only=True, check_circular=True, sort_keys=True)


def merge_values(left: Any, right: Any) -> Any:
    """Merge ``right`` over ``left`` (neither is modified)."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return merge_objects(left, right)
    if isinstance(left, list) and isinstance(right, list):
        if _same_array(left, right):
            # the same array (branches that passed it on unchanged): the union is it,
            # found without a key per element
            return list(left)
        out = list(left)
        seen = {_key(v) for v in left}
        for v in right:
            k = _key(v)
            if k not in seen:
                seen.add(k)
                out.append(v)
        return out
    return right


def _same_array(left: list[Any], right: list[Any]) -> bool:
    """Whether two arrays are the same JSON. Python's ``==`` only rules out (it takes
    1, 1.0 and true for one value); equal pickles are the same values of the same
    types with keys in the same order (6x cheaper than two canonical encodes); only
    what neither settles is compared by canonical JSON."""
    if len(left) != len(right) or left != right:
        return False
    try:
        if pickle.dumps(left, 5) == pickle.dumps(right, 5):
            return True
    except Exception:
        pass  # not picklable: the canonical comparison decides
    return _key(left) == _key(right)


def merge_objects(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(left)
    for k, v in right.items():
        out[k] = merge_values(out[k], v) if k in out else v
    return out


def merge_contexts(contexts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Fold contexts left to right; pass them in topological order for determinism."""
    out: dict[str, Any] = {}
    for ctx in contexts:
        if type(ctx) is JsonText:
            ctx = ctx.value  # (a dict merges in C; a mapping's methods run in Python)
        out = merge_objects(out, ctx) if out else dict(ctx)
    return out

"""Reads of an execution's tasks and outputs for the engine's transactions (batched by
500 ids; raw SQL from :mod:`cloacinactl.store.fastsql`)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from cloacinactl.store.fastsql import Sql, fetch

_TASK_COLS = (
    "id",
    "execution_id",
    "task_name",
    "state",
    "attempt",
    "claimant_id",
    "reset_count",
    "error",
)


def load_tasks(
    conn: Connection, sql: Sql, execution_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    ids = sorted(set(execution_ids))
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in fetch(conn, sql.tasks_of(len(chunk)), chunk):
            out[row[1]][row[2]] = dict(zip(_TASK_COLS, row, strict=True))
    return out


def load_outputs(
    conn: Connection, sql: Sql, execution_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    ids = sorted(set(execution_ids))
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for eid, name, text in fetch(conn, sql.outputs_of(len(chunk)), chunk):
            out[eid][name] = json.loads(text)
    return out

"""Reads of an execution's tasks and outputs for the engine's transactions (batched by
500 ids; raw SQL from :mod:`cloacinactl.store.fastsql`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection

from cloacinactl.jsonfast import JsonText
from cloacinactl.store.fastsql import Sql, fetch


def load_tasks(
    conn: Connection, sql: Sql, execution_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Each execution's task rows, by task name."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for pk, eid, name, state, attempt, claimant, resets, error in _rows_of(
        conn, sql.tasks_of, execution_ids
    ):
        # a literal, not dict(zip(...)): a quarter of the cost, for every task of
        # every execution a cycle touches
        out[eid][name] = {
            "id": pk,
            "execution_id": eid,
            "task_name": name,
            "state": state,
            "attempt": attempt,
            "claimant_id": claimant,
            "reset_count": resets,
            "error": error,
        }
    return out


def load_outputs(
    conn: Connection,
    sql: Sql,
    execution_ids: Iterable[str],
    known: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Each execution's Completed task outputs, by task name (read apart from the task
    states: only executions that can advance need them, and they may be large), as
    stored text decoded only if read (:class:`~cloacinactl.jsonfast.JsonText`). What
    ``known`` already holds (outputs recorded in this transaction) is skipped."""
    out: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    known = known or {}
    for eid, name, text in _rows_of(conn, sql.outputs_of, execution_ids):
        if text is not None and name not in known.get(eid, ()):
            out[eid][name] = JsonText(text)
    return out


def _rows_of(
    conn: Connection, statement: Callable[[int], str], execution_ids: Iterable[str]
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``statement`` (built for a count of ids) over 500 ids at a time."""
    ids = sorted(set(execution_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        yield from fetch(conn, statement(len(chunk)), chunk)

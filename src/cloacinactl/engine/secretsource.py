"""Secret values for task attempts, resolved when a task is handed to a worker.

A workflow that declares secret slots (``cloaca.workflow_secrets``) has each
slot bound to a stored secret by name in its run's input context
(``{"<slot>": {"$secret": "<name>"}}``, an unbound slot naming its own secret).
At every attempt the engine reads the bindings from the execution's input,
looks the names up in its :class:`SecretSource` and passes the values to the
worker beside the context, so a rotated secret is seen by the next attempt and
no value is ever written to the database by the engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, select

from cloacinactl.store import schema
from cloacinactl.workflow import bindings_of

Resolved = dict[str, dict[str, str]]  # slot -> {field: value}


class SecretSource(Protocol):
    def lookup(self, conn: Connection, name: str) -> Mapping[str, str] | None:
        """The fields of the stored secret ``name``, None when there is none. Errors
        (a key that cannot open it) raise with a message naming no value."""
        ...


@dataclass(frozen=True)
class StaticSecrets:
    """Secrets given up front, e.g. read from a local run's secrets file."""

    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)

    def lookup(self, conn: Connection, name: str) -> Mapping[str, str] | None:
        return self.secrets.get(name)


class FileSecrets:
    """Secrets read from a local secrets file at each lookup (an edit is seen by the
    next attempt, like a rotation); see :mod:`cloacinactl.config.secretsfile`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lookup(self, conn: Connection, name: str) -> Mapping[str, str] | None:
        from cloacinactl.config.secretsfile import read_secrets_file

        return read_secrets_file(self.path).get(name)


def execution_inputs(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Execution id -> its input context."""
    table = schema.executions
    rows = conn.execute(
        select(table.c.id, table.c.input_context).where(table.c.id.in_(sorted(set(ids))))
    )
    return {str(eid): ctx if isinstance(ctx, dict) else {} for eid, ctx in rows}


def resolve(
    conn: Connection, source: SecretSource, wanted: Sequence[tuple[str, Sequence[str]]]
) -> list[Resolved | str]:
    """For each ``(execution_id, slots)``: the slots' secret values, or why not (a
    message naming slots and secret names only)."""
    inputs = execution_inputs(conn, [eid for eid, _ in wanted])
    found: dict[str, Mapping[str, str] | None] = {}
    out: list[Resolved | str] = []
    for eid, slots in wanted:
        resolved: Resolved = {}
        problem: str | None = None
        for slot, name in bindings_of(slots, inputs.get(eid, {})).items():
            if name not in found:
                found[name] = source.lookup(conn, name)
            fields = found[name]
            if fields is None:
                problem = f"secret {name!r} (bound to slot {slot!r}) is not stored"
                break
            resolved[slot] = dict(fields)
        out.append(problem if problem is not None else resolved)
    return out

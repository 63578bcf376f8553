"""Execution and task spans, recorded after the fact from the database.

Imported only when tracing is on (otel.py). The server that finishes an
execution records it: one span for the execution (created → completed), parented
under the request that started it when that request stored its traceparent, and
one span per task that ran or was skipped (started → completed, attempt and final
state as attributes) under it. Reading the rows happens in batches off the
engine's hot path; the timings are the engine's own, wherever the tasks ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from loguru import logger
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Connection, select

from cloacinactl.services.server.finished import FinishedQueue
from cloacinactl.store import Store
from cloacinactl.store import schema as s

E = s.executions.c
T = s.tasks.c
BATCH_EVERY_S = 1.0
ERROR_CHARS = 512  # an error's first characters go into the span status


@dataclass(frozen=True)
class Finished:
    execution: Any  # the executions row
    tasks: Sequence[Any]  # its tasks rows


def finished_executions(conn: Connection, ids: Sequence[str]) -> list[Finished]:
    execs = conn.execute(
        select(
            E.id,
            E.workflow_name,
            E.workflow_version,
            E.status,
            E.trigger_origin,
            E.error,
            E.trace_parent,
            E.created_at,
            E.completed_at,
        ).where(E.id.in_(list(ids)))
    ).all()
    tasks: dict[str, list[Any]] = {}
    rows = conn.execute(
        select(
            T.execution_id,
            T.task_name,
            T.state,
            T.attempt,
            T.error,
            T.started_at,
            T.completed_at,
        )
        .where(T.execution_id.in_(list(ids)))
        .order_by(T.id)
    ).all()
    for row in rows:
        tasks.setdefault(row.execution_id, []).append(row)
    return [Finished(e, tasks.get(e.id, [])) for e in execs]


def _ns(at: dt.datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1_000_000_000)


def _status(failed: bool, error: str | None) -> Status:
    if not failed:
        return Status(StatusCode.UNSET)
    return Status(StatusCode.ERROR, (error or "")[:ERROR_CHARS] or None)


class ExecutionSpans:
    """Records the spans of executions finished on this server."""

    def __init__(self, tracer: Any, stores: Mapping[str, Store]) -> None:
        self.tracer = tracer
        self.stores = stores  # the server's tenant stores (live view)
        self.queue = FinishedQueue()
        self.finished = self.queue.finished
        self._propagator = TraceContextTextMapPropagator()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.queue.wait(BATCH_EVERY_S)
            for tenant, ids in self.queue.take().items():
                store = self.stores.get(tenant)
                if store is None:
                    continue
                try:
                    done = await trio.to_thread.run_sync(
                        store.read, partial(finished_executions, ids=ids)
                    )
                except Exception as exc:  # tracing never takes the server down
                    logger.debug("execution spans of tenant {} not read: {}", tenant, exc)
                    continue
                for item in done:
                    self.record(tenant, item)

    def record(self, tenant: str, item: Finished) -> None:
        row = item.execution
        end = _ns(row.completed_at)
        parent = (
            self._propagator.extract({"traceparent": row.trace_parent})
            if row.trace_parent
            else None
        )
        span = self.tracer.start_span(
            f"execution {row.workflow_name}",
            context=parent,
            kind=SpanKind.INTERNAL,
            start_time=_ns(row.created_at),
            attributes={
                "cloacina.tenant": tenant,
                "cloacina.execution_id": row.id,
                "cloacina.workflow": row.workflow_name,
                "cloacina.workflow_version": row.workflow_version,
                "cloacina.execution_status": row.status,
                "cloacina.trigger_origin": row.trigger_origin,
            },
        )
        span.set_status(_status(row.status == "Failed", row.error))
        inside = trace.set_span_in_context(span)
        for task in item.tasks:
            finished_at = _ns(task.completed_at)
            if finished_at is None and task.started_at is None:
                continue  # never reached (a cancelled or failed run's later tasks)
            child = self.tracer.start_span(
                f"task {task.task_name}",
                context=inside,
                kind=SpanKind.INTERNAL,
                start_time=_ns(task.started_at) or finished_at,
                attributes={
                    "cloacina.execution_id": row.id,
                    "cloacina.task": task.task_name,
                    "cloacina.task_state": task.state,
                    "cloacina.attempt": int(task.attempt),
                },
            )
            child.set_status(_status(task.state == "Failed", task.error))
            child.end(end_time=finished_at or end)
        span.end(end_time=end)

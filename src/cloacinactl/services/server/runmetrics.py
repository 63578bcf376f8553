"""Feeding the server's ``cloacina_workflows_*`` / ``cloacina_tasks_*`` metrics.

Each tenant's engine reports the executions that finished *here* (so with
several servers on one database each counts only its own work); a background
task reads their durations and their tasks' outcomes in one query per batch,
off the engine's hot path, and refreshes the ``active`` gauges every
``GAUGE_EVERY_S`` from the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

import trio
from loguru import logger
from sqlalchemy import Connection, func, select

from cloacinactl.services.server.finished import FinishedQueue
from cloacinactl.store import Store
from cloacinactl.store import schema as s
from cloacinactl.store.executions import ACTIVE, count_active

if TYPE_CHECKING:
    from cloacinactl.services.server.metrics import Metrics

E = s.executions.c
T = s.tasks.c
GAUGE_EVERY_S = 2.0
TASK_DONE = ("Completed", "Failed", "Skipped", "Cancelled")


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def finished_rows(
    conn: Connection, ids: Sequence[str]
) -> tuple[list[tuple[str, float | None]], list[tuple[str, float | None]]]:
    """(status, seconds) of the executions ``ids`` and of their finished tasks."""
    execs = conn.execute(
        select(E.status, E.started_at, E.created_at, E.completed_at).where(E.id.in_(list(ids)))
    ).all()
    tasks = conn.execute(
        select(T.state, T.started_at, T.completed_at).where(
            T.execution_id.in_(list(ids)), T.state.in_(TASK_DONE)
        )
    ).all()
    return (
        [(r.status, _seconds(r.started_at or r.created_at, r.completed_at)) for r in execs],
        [(r.state, _seconds(r.started_at, r.completed_at)) for r in tasks],
    )


def running_tasks(conn: Connection) -> int:
    found = conn.execute(
        select(func.count())
        .select_from(s.tasks.join(s.executions, E.id == T.execution_id))
        .where(T.state == "Running", E.status.in_(ACTIVE))
    ).scalar()
    return int(found or 0)


class RunMetrics:
    """Collects finished executions per tenant and turns them into metric samples."""

    def __init__(self, metrics: Metrics, stores: Mapping[str, Store]) -> None:
        self.metrics = metrics
        self.stores = stores  # the server's tenant stores (live view)
        self.queue = FinishedQueue()
        self.finished = self.queue.finished

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        gauges_at = -GAUGE_EVERY_S
        while True:
            await self.queue.wait(GAUGE_EVERY_S)
            try:
                await self._record_finished()
                # finished runs wake this loop many times a second when busy; the
                # gauges' counting queries run once per interval, not once per wake
                if trio.current_time() - gauges_at >= GAUGE_EVERY_S:
                    gauges_at = trio.current_time()
                    await self._refresh_gauges()
            except Exception as exc:  # metrics never take the server down
                logger.debug("metrics refresh failed: {}", exc)

    async def _record_finished(self) -> None:
        for tenant, ids in self.queue.take().items():
            store = self.stores.get(tenant)
            if store is None:
                continue
            execs, tasks = await trio.to_thread.run_sync(
                store.read, partial(finished_rows, ids=ids)
            )
            for status, seconds in execs:
                self.metrics.workflow_finished(status, seconds)
            for state, seconds in tasks:
                self.metrics.task_finished(state, seconds)

    async def active_executions(self) -> int:
        """Executions not yet finished, across this server's tenants (from the database)."""
        return await self._count(count_active)

    async def _count(self, query: Callable[[Connection], int]) -> int:
        total = 0
        for store in list(self.stores.values()):
            total += await trio.to_thread.run_sync(store.read, query)
        return total

    async def _refresh_gauges(self) -> None:
        self.metrics.active_workflows.set(await self.active_executions())
        self.metrics.active_tasks.set(await self._count(running_tasks))

"""Handing claimed attempts to the task runner and collecting their outcomes.

The executor's writer claims tasks in its transaction; :class:`Dispatch` turns
each claim into a :class:`TaskRequest` (with the workflow's secrets when it has
slots), runs it (a whole batch at once when the runner takes batches: the
worker pool), and reports every outcome through ``finish(claimed, outcome)``
exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial

import trio
from loguru import logger

from cloacinactl.engine.secretsource import SecretSource, resolve
from cloacinactl.engine.taskrun import BatchTaskRunner, TaskOutcome, TaskRequest, TaskRunner
from cloacinactl.store import Store
from cloacinactl.store.claims import Claimed

Finish = Callable[[Claimed, TaskOutcome], None]


def request_for(claimed: Claimed) -> TaskRequest:
    """The attempt's request (without secrets)."""
    workflow = claimed.registered.workflow
    task = workflow.by_id[claimed.task_name]
    return TaskRequest(
        claimed.execution_id,
        workflow.name,
        claimed.task_name,
        claimed.attempt,
        claimed.context,
        claimed.registered.code,
        f"{task.module}:{task.qualname}" if task.module else None,
        task.timeout_s,
    )


class Dispatch:
    """Runs claimed attempts through ``runner``; outcomes go to ``finish``."""

    def __init__(
        self, store: Store, runner: TaskRunner, secrets: SecretSource | None, finish: Finish
    ) -> None:
        self.store = store
        self.runner = runner
        self.secrets = secrets
        self.finish = finish
        # decided once: a runtime Protocol check per batch costs more than the batch
        self.batch_runner = runner if isinstance(runner, BatchTaskRunner) else None

    def start(self, nursery: trio.Nursery, batch: list[Claimed]) -> None:
        """Start running ``batch`` (just claimed) in ``nursery``."""
        if self.batch_runner is not None:
            nursery.start_soon(self._run_batch, self.batch_runner, batch)
        else:
            for claimed in batch:
                nursery.start_soon(self._run_one, claimed)

    async def requests(self, batch: list[Claimed]) -> list[TaskRequest | TaskOutcome]:
        """The attempts' requests; a task of a workflow with secret slots gets their
        values (read now, so the next attempt sees a rotation) or fails here."""
        out: list[TaskRequest | TaskOutcome] = [request_for(c) for c in batch]
        needing = [i for i, c in enumerate(batch) if c.registered.workflow.secrets]
        if not needing:
            return out
        if self.secrets is None:
            for i in needing:
                out[i] = TaskOutcome.failure(
                    "secret_unavailable", "the workflow declares secrets; none are configured here"
                )
            return out
        wanted = [(batch[i].execution_id, batch[i].registered.workflow.secrets) for i in needing]
        try:
            found = await trio.to_thread.run_sync(
                self.store.read, partial(resolve, source=self.secrets, wanted=wanted)
            )
        except Exception as exc:  # the database or the key store: retry the attempt
            logger.error("cannot resolve task secrets error={}", type(exc).__name__)
            found = [f"cannot read the workflow's secrets ({type(exc).__name__})"] * len(needing)
            transient = True
        else:
            transient = False
        for i, value in zip(needing, found, strict=True):
            request = out[i]
            assert isinstance(request, TaskRequest)
            if isinstance(value, str):
                out[i] = TaskOutcome.failure("secret_unavailable", value, transient=transient)
            else:
                out[i] = dataclasses.replace(request, secrets=value)
        return out

    async def _run_one(self, claimed: Claimed) -> None:
        (request,) = await self.requests([claimed])
        if isinstance(request, TaskOutcome):
            self.finish(claimed, request)
            return
        try:
            outcome = await self.runner.run_task(request)
        except Exception as exc:  # a runner bug fails this attempt only
            logger.exception("task runner failed")
            outcome = TaskOutcome.failure("internal", f"task runner failed: {exc!r}")
        self.finish(claimed, outcome)

    async def _run_batch(self, runner: BatchTaskRunner, batch: list[Claimed]) -> None:
        """Hand a whole claimed batch to the runner (fewer round trips per task)."""
        requests = await self.requests(batch)
        runnable: list[Claimed] = []
        runnable_requests: list[TaskRequest] = []
        for claimed, request in zip(batch, requests, strict=True):
            if isinstance(request, TaskOutcome):
                self.finish(claimed, request)
            else:
                runnable.append(claimed)
                runnable_requests.append(request)
        if not runnable:
            return
        pending: list[Claimed | None] = list(runnable)
        finish = self.finish

        def deliver(index: int, outcome: TaskOutcome) -> None:
            claimed = pending[index]
            if claimed is not None:
                pending[index] = None
                finish(claimed, outcome)

        try:
            await runner.run_tasks(runnable_requests, deliver)
        except Exception as exc:  # a runner bug fails the attempts it did not finish
            logger.exception("task runner failed")
            for index, left in enumerate(pending):
                if left is not None:
                    deliver(index, TaskOutcome.failure("internal", f"task runner failed: {exc!r}"))

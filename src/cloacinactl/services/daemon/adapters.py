"""Small adapters from the schedulers' Protocols to the engine and the worker pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloacinactl.engine.runner import Runner
from cloacinactl.engine.schedules import PollTrigger
from cloacinactl.errors import CloacinaError
from cloacinactl.services.daemon.book import PollTarget
from cloacinactl.workers import WorkerPool, source_from_dict


class RunnerStarter:
    """``ExecutionStarter`` + ``ExecutionTracker`` over the engine's Runner."""

    def __init__(self, runner: Runner, origin: str) -> None:
        self.runner = runner
        self.origin = origin

    async def start_execution(
        self, workflow: str, context: Mapping[str, Any], *, package: str
    ) -> str:
        return await self.runner.start_execution(
            workflow, context, origin=self.origin, package=package
        )

    async def is_active(self, execution_id: str) -> bool:
        return await self.runner.is_active(execution_id)


class TriggerPollError(CloacinaError):
    """A poll function failed (raised, returned something odd, timed out, crashed)."""


class PoolPoller:
    """``TriggerPoller``: call a package's poll function in a worker process."""

    def __init__(self, pool: WorkerPool, targets: Mapping[str, PollTarget]) -> None:
        self.pool = pool
        self.targets = targets

    async def poll_trigger(self, trigger: PollTrigger, *, timeout: float) -> object:
        target = self.targets.get(trigger.trigger_id)
        if target is None:
            raise TriggerPollError(f"trigger {trigger.trigger_id} is not loaded")
        result = await self.pool.poll_trigger(
            source_from_dict(target.source),
            target.trigger,
            function=target.function,
            timeout=timeout,
        )
        if result.error is not None:
            raise TriggerPollError(f"{result.error.kind}: {result.error.message}")
        return {"fire": result.fire, "context": result.context or {}}

"""``WorkerPool``: run task attempts, load sources and poll triggers in workers.

Usage (trio)::

    pool = WorkerPool(size=4, service="cloacina-daemon")
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)          # ready: every worker answered ping
        result = await pool.run_task(TaskRequest(
            source=ModuleSource("my_flows", sys_path=("/srv/flows",)),
            workflow="etl", task_id="extract", context={"day": "2026-01-01"},
            execution_id="e-1", attempt=1, timeout=30.0))
        await pool.stop()                        # graceful: grace_s for running calls
"""

from __future__ import annotations

from typing import Any

from .core import PoolClosed, PoolCore, RawReply
from .outcome import TaskError, json_problem
from .results import LoadResult, Output, TaskRequest, TaskResult, TriggerPoll
from .sources import Source

__all__ = ["PoolClosed", "WorkerPool"]


def _error(result: dict[str, Any]) -> TaskError | None:
    error = result.get("error")
    return TaskError.from_dict(error) if isinstance(error, dict) else None


class WorkerPool(PoolCore):
    """A pool of worker processes; start with ``await nursery.start(pool.serve)``."""

    async def run_task(self, request: TaskRequest) -> TaskResult:
        """Run one task attempt; failures are results (``status == "failed"``), not raises."""
        problem = json_problem(request.context)
        if problem is not None:
            return TaskResult(
                status="failed",
                execution_id=request.execution_id,
                task_id=request.task_id,
                attempt=request.attempt,
                error=TaskError(
                    "bad_input", f"input context of task {request.task_id!r} is not JSON: {problem}"
                ),
            )
        reply = await self.call(
            "run_task",
            request.wire_args(),
            source_id=request.source.source_id,
            timeout=request.timeout,
        )
        common: dict[str, Any] = {
            "execution_id": request.execution_id,
            "task_id": request.task_id,
            "attempt": request.attempt,
            "captured": Output.from_wire(reply.captured),
            "worker": reply.worker,
            "pid": reply.pid,
        }
        if reply.result is None:
            return TaskResult(status="failed", error=reply.error, **common)
        result = reply.result
        error = _error(result)
        output = result.get("output")
        return TaskResult(
            status="completed" if error is None and isinstance(output, dict) else "failed",
            output=output if error is None and isinstance(output, dict) else None,
            error=error,
            duration_s=float(result.get("duration_s", 0.0)),
            source_cached=bool(result.get("cached", False)),
            **common,
        )

    async def load(self, source: Source, *, timeout: float | None = None) -> LoadResult:
        """Import a source in a worker (cached there) and return its description."""
        reply = await self.call(
            "load", {"source": source.to_dict()}, source_id=source.source_id, timeout=timeout
        )
        return _load_result(source, reply)

    async def poll_trigger(
        self,
        source: Source,
        trigger: str,
        *,
        function: str | None = None,
        timeout: float | None = None,
    ) -> TriggerPoll:
        """Call a poll trigger; ``fire`` says whether to start its workflow."""
        args = {"source": source.to_dict(), "trigger": trigger, "function": function}
        reply = await self.call("poll_trigger", args, source_id=source.source_id, timeout=timeout)
        captured = Output.from_wire(reply.captured)
        if reply.result is None:
            return TriggerPoll(trigger, False, None, reply.error, captured, reply.worker)
        error = _error(reply.result)
        context = reply.result.get("context")
        return TriggerPoll(
            trigger=trigger,
            fire=bool(reply.result.get("fire")) and error is None,
            context=context if isinstance(context, dict) else None,
            error=error,
            captured=captured,
            worker=reply.worker,
        )


def _load_result(source: Source, reply: RawReply) -> LoadResult:
    captured = Output.from_wire(reply.captured)
    if reply.result is None:
        return LoadResult(source.source_id, None, reply.error, False, captured, reply.worker)
    description = reply.result.get("description")
    return LoadResult(
        source_id=source.source_id,
        description=description if isinstance(description, dict) else None,
        error=_error(reply.result),
        cached=bool(reply.result.get("cached", False)),
        captured=captured,
        worker=reply.worker,
    )

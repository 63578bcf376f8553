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

from collections import deque
from collections.abc import Sequence
from typing import Any

import trio

from .batch import ChunkSizer, Deliver, run_chunk
from .core import PoolClosed, PoolCore
from .outcome import TaskError, json_problem
from .results import LoadResult, Output, RawReply, TaskRequest, TaskResult, TriggerPoll
from .sources import Source

__all__ = ["PoolClosed", "WorkerPool"]


def _error(result: dict[str, Any]) -> TaskError | None:
    error = result.get("error")
    return TaskError.from_dict(error) if isinstance(error, dict) else None


class WorkerPool(PoolCore):
    """A pool of worker processes; start with ``await nursery.start(pool.serve)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizer = ChunkSizer()

    async def run_tasks(self, requests: Sequence[TaskRequest], deliver: Deliver) -> None:
        """Run many attempts, several per worker round trip when they are quick;
        ``deliver(i, result)`` is called as each ``requests[i]`` finishes (every one is
        delivered once, failures included). Same semantics as :meth:`run_task` each."""
        queue: deque[tuple[int, TaskRequest]] = deque()
        for index, request in enumerate(requests):
            problem = json_problem(request.context)
            if problem is None:
                queue.append((index, request))
            else:
                deliver(index, _bad_input(request, problem))
        running = 0
        changed = trio.Event()

        async def one(slot: Any, chunk: list[tuple[int, TaskRequest]]) -> None:
            nonlocal running, changed
            try:
                queue.extend(await run_chunk(self, slot, chunk, deliver, self.sizer))
            finally:
                running -= 1
                changed.set()

        async with trio.open_nursery() as nursery:
            while queue or running:
                if not queue:
                    changed = trio.Event()
                    await changed.wait()
                    continue
                try:
                    if self._closed:
                        raise PoolClosed("the worker pool is stopped")
                    slot = await self._dispatch.acquire(queue[0][1].source.source_id)
                except PoolClosed as exc:
                    while queue:
                        index, request = queue.popleft()
                        deliver(index, _stopped(request, str(exc)))
                    continue
                # split evenly over the workers idle now; with the others busy (under
                # load) one round trip takes all it may, and the workers' queues do not
                # run dry between short chunks
                share = -(-len(queue) // (1 + self._dispatch.idle()))
                keys = [(r.workflow, r.task_id) for _, r in list(queue)[:share]]
                size = self.sizer.size(keys, share)
                chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
                running += 1
                nursery.start_soon(one, slot, chunk)

    async def run_task(self, request: TaskRequest) -> TaskResult:
        """Run one task attempt; failures are results (``status == "failed"``), not raises."""
        problem = json_problem(request.context)
        if problem is not None:
            return _bad_input(request, problem)
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

    async def graph(
        self, source: Source, action: str, *, timeout: float | None = None, **args: Any
    ) -> tuple[dict[str, Any] | None, TaskError | None]:
        """One computation-graph call (see ``workers.graphcall``): the result,
        or the error when the call failed (user code raised, timed out, crashed)."""
        wire = {"source": source.to_dict(), "action": action, **args}
        reply = await self.call("graph", wire, source_id=source.source_id, timeout=timeout)
        if reply.result is None:
            return None, reply.error
        error = _error(reply.result)
        if reply.result.get("status") != "ok":
            return reply.result, error or TaskError("protocol", "the graph call failed")
        return reply.result, None


def _bad_input(request: TaskRequest, problem: str) -> TaskResult:
    return TaskResult(
        status="failed",
        execution_id=request.execution_id,
        task_id=request.task_id,
        attempt=request.attempt,
        error=TaskError(
            "bad_input", f"input context of task {request.task_id!r} is not JSON: {problem}"
        ),
    )


def _stopped(request: TaskRequest, reason: str) -> TaskResult:
    return TaskResult(
        status="failed",
        execution_id=request.execution_id,
        task_id=request.task_id,
        attempt=request.attempt,
        error=TaskError("cancelled", f"{reason} before task {request.task_id!r} ran"),
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

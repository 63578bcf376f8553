"""Several task attempts per worker round trip (trio).

Sending one request, waiting for its answer and only then sending the next
costs a process wake-up and a trio round trip per task; on a small machine that
is most of a trivial task's price. :func:`run_chunk` instead writes a chunk of
``run_task`` requests to one worker at once. The worker serves them in order
and answers each as soon as it is done, so every attempt keeps its own
semantics:

- an attempt starts when the previous answer was written; the pool sees that
  answer a little later, so each attempt's timeout runs from then (never early);
- a timeout, crash or protocol failure fails the attempt at the head of the
  chunk exactly as a single call would (the worker is replaced, its captured
  output attached); the attempts behind it never started and are handed back
  to be run elsewhere.

:class:`ChunkSizer` keeps chunks short for slow tasks, so a chunk never holds
back more than about ``budget_s`` of work behind its head.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from .connection import WorkerGone
from .exchange import replace_worker
from .outcome import TaskError
from .protocol import ProtocolError
from .results import Output, TaskRequest, TaskResult
from .slots import Call, Slot

if TYPE_CHECKING:
    from .core import PoolCore

Deliver = Callable[[int, TaskResult], None]


@dataclass
class ChunkSizer:
    """How many attempts of a task may share one round trip (pure).

    Tracks a moving average of each task's run time; an unknown task goes
    alone until it has been measured once.
    """

    budget_s: float = 0.02
    max_chunk: int = 64
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, key: tuple[str, str], duration_s: float) -> None:
        old = self.seconds.get(key)
        self.seconds[key] = duration_s if old is None else 0.8 * old + 0.2 * duration_s

    def size(self, keys: Sequence[tuple[str, str]], fair_share: int) -> int:
        """Chunk length for the queue ``keys`` (head first), at most ``fair_share``."""
        total = 0.0
        count = 0
        for key in keys[: max(1, min(fair_share, self.max_chunk))]:
            seconds = self.seconds.get(key)
            if seconds is None:
                return max(1, count)
            total += seconds
            if count and total > self.budget_s:
                break
            count += 1
        return max(1, count)


def _result(request: TaskRequest, reply: dict[str, Any], worker: int, pid: int) -> TaskResult:
    error_data = reply.get("error")
    error = TaskError.from_dict(error_data) if isinstance(error_data, dict) else None
    output = reply.get("output")
    ok = error is None and isinstance(output, dict)
    return TaskResult(
        status="completed" if ok else "failed",
        execution_id=request.execution_id,
        task_id=request.task_id,
        attempt=request.attempt,
        output=output if ok else None,
        error=error,
        captured=Output.from_wire(reply),
        worker=worker,
        pid=pid,
        duration_s=float(reply.get("duration_s", 0.0)),
        source_cached=bool(reply.get("cached", False)),
    )


async def run_chunk(
    core: PoolCore,
    slot: Slot,
    chunk: Sequence[tuple[int, TaskRequest]],
    deliver: Deliver,
    sizer: ChunkSizer,
) -> list[tuple[int, TaskRequest]]:
    """Run ``chunk`` on ``slot`` (reserved by the caller and released here); deliver
    each result; return the attempts that never started (to run elsewhere)."""
    try:
        return await _run_chunk(core, slot, chunk, deliver, sizer)
    finally:
        core._release(slot)


async def _run_chunk(
    core: PoolCore,
    slot: Slot,
    chunk: Sequence[tuple[int, TaskRequest]],
    deliver: Deliver,
    sizer: ChunkSizer,
) -> list[tuple[int, TaskRequest]]:
    assert slot.conn is not None and slot.pid is not None
    conn = slot.conn
    call = Call(generation=slot.generation, pid=slot.pid)
    slot.call = call
    position = 0
    failure: str | None = None
    timed_out: float | None = None
    try:
        with call.scope:
            try:
                ids = await conn.send_requests([("run_task", r.wire_args()) for _, r in chunk])
                started = trio.current_time()
                while position < len(chunk):
                    index, request = chunk[position]
                    timeout = request.timeout
                    if timeout is None or conn.has_result():
                        # no deadline, or the answer is already here: no cancel scope
                        # (one per attempt is a measurable share of a trivial task)
                        reply = await conn.next_result(ids[position], "run_task")
                    else:
                        with trio.move_on_at(started + timeout) as scope:
                            reply = await conn.next_result(ids[position], "run_task")
                        if scope.cancelled_caught:
                            timed_out = timeout
                            break
                    started = trio.current_time()
                    slot.calls += 1
                    if (reply.get("error") or {}).get("kind") != "load_failed":
                        slot.sources.add(request.source.source_id)
                    result = _result(request, reply, slot.index, call.pid)
                    sizer.observe((request.workflow, request.task_id), result.duration_s)
                    deliver(index, result)
                    position += 1
            except WorkerGone:
                pass
            except ProtocolError as exc:
                failure = str(exc)
        if position >= len(chunk):
            return []
        # the head attempt failed with its worker; the ones behind it never started
        replace_worker(slot.child, call)
        error, captured = await core._lost(
            slot, call, "run_task", timeout=timed_out, failure=failure
        )
    except BaseException:
        replace_worker(slot.child, call)  # cancelled mid-chunk: the worker is mid-attempt
        raise
    finally:
        slot.call = None  # only now: the exit hook records the exit on the slot's call
    index, request = chunk[position]
    deliver(index, _lost_result(request, error, captured, slot.index, call.pid))
    return list(chunk[position + 1 :])


def _lost_result(
    request: TaskRequest, error: TaskError, captured: dict[str, Any], worker: int, pid: int
) -> TaskResult:
    """The failure of an attempt whose worker was lost under it."""
    return TaskResult(
        status="failed",
        execution_id=request.execution_id,
        task_id=request.task_id,
        attempt=request.attempt,
        error=error,
        captured=Output.from_wire(captured),
        worker=worker,
        pid=pid,
    )

"""The production task runner: attempts run in the worker pool's child processes."""

from __future__ import annotations

from typing import Any

from cloacinactl.engine.taskrun import TaskOutcome, TaskRequest
from cloacinactl.engine.workers import TaskRequest as PoolRequest
from cloacinactl.engine.workers import WorkerPool, source_from_dict

CAPTURE_LIMIT = 16 * 1024


def _tail(text: str) -> str:
    return text if len(text) <= CAPTURE_LIMIT else "…" + text[-CAPTURE_LIMIT:]


class PoolTaskRunner:
    """Adapts :class:`WorkerPool` to the executor's ``run_task`` protocol."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        try:
            source = source_from_dict(request.code)
        except ValueError as exc:
            return TaskOutcome.failure("load_failed", f"bad code location: {exc}")
        result = await self.pool.run_task(
            PoolRequest(
                source=source,
                workflow=request.workflow,
                task_id=request.task_id,
                context=request.context,
                execution_id=request.execution_id,
                attempt=request.attempt,
                timeout=request.timeout_s,
                function=request.function,
            )
        )
        captured: dict[str, Any] = {}
        if result.captured.stdout:
            captured["stdout"] = _tail(result.captured.stdout)
        if result.captured.stderr:
            captured["stderr"] = _tail(result.captured.stderr)
        if result.captured.logs:
            captured["logs"] = list(result.captured.logs[-100:])
        if result.ok:
            return TaskOutcome(True, output=result.output, captured=captured)
        error = result.error.to_dict() if result.error is not None else {"kind": "unknown"}
        return TaskOutcome(False, error=error, captured=captured)

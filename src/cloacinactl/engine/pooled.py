"""The production task runner: attempts run in the worker pool's child processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from cloacinactl.engine.taskrun import TaskOutcome, TaskRequest
from cloacinactl.workers import Source, TaskResult, source_from_dict
from cloacinactl.workers import TaskRequest as PoolRequest
from cloacinactl.workers.redact import Redactor

CAPTURE_LIMIT = 16 * 1024


def _tail(text: str) -> str:
    return text if len(text) <= CAPTURE_LIMIT else "…" + text[-CAPTURE_LIMIT:]


class TaskPool(Protocol):
    """What the engine needs of a worker pool (:class:`cloacinactl.workers.WorkerPool`):
    run attempts in child processes. The pool knows nothing of executions."""

    async def run_task(self, request: PoolRequest) -> TaskResult: ...

    async def run_tasks(
        self, requests: Sequence[PoolRequest], deliver: Callable[[int, TaskResult], None]
    ) -> None: ...


class PoolTaskRunner:
    """Adapts a :class:`TaskPool` to the executor's ``run_task`` protocol."""

    def __init__(self, pool: TaskPool) -> None:
        self.pool = pool
        # id(code) -> (code, Source): the entry keeps ``code`` alive, so ids are not reused
        self._sources: dict[int, tuple[dict[str, Any], Source]] = {}

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        try:
            pool_request = self._request(request)
        except ValueError as exc:
            return TaskOutcome.failure("load_failed", f"bad code location: {exc}")
        return _outcome(await self.pool.run_task(pool_request), request)

    async def run_tasks(
        self, requests: Sequence[TaskRequest], deliver: Callable[[int, TaskOutcome], None]
    ) -> None:
        """Run many attempts (several per worker round trip); ``deliver(i, outcome)``
        as each ``requests[i]`` finishes."""
        indexes: list[int] = []
        pool_requests: list[PoolRequest] = []
        originals = list(requests)
        for index, request in enumerate(requests):
            try:
                pool_requests.append(self._request(request))
                indexes.append(index)
            except ValueError as exc:
                deliver(index, TaskOutcome.failure("load_failed", f"bad code location: {exc}"))
        await self.pool.run_tasks(
            pool_requests,
            lambda i, result: deliver(indexes[i], _outcome(result, originals[indexes[i]])),
        )

    def _request(self, request: TaskRequest) -> PoolRequest:
        return PoolRequest(
            source=self._source(request.code),
            workflow=request.workflow,
            task_id=request.task_id,
            context=request.context,
            execution_id=request.execution_id,
            attempt=request.attempt,
            timeout=request.timeout_s,
            function=request.function,
            secrets=request.secrets,
        )

    def _source(self, code: dict[str, Any]) -> Source:
        # the same code dict (one per registered workflow version) comes with every task
        cached = self._sources.get(id(code))
        if cached is not None and cached[0] is code:
            return cached[1]
        source = source_from_dict(code)
        if len(self._sources) > 1024:
            self._sources.clear()
        self._sources[id(code)] = (code, source)
        return source


def _outcome(result: TaskResult, request: TaskRequest) -> TaskOutcome:
    outcome = _plain_outcome(result)
    if not request.secrets:
        return outcome
    # the worker masks what it reports; output the pool read itself (a worker killed
    # on timeout or crash left it in its capture file) is masked here
    redactor = Redactor.of(request.secrets)
    return TaskOutcome(
        outcome.ok,
        output=outcome.output,
        error=redactor.deep(outcome.error) if outcome.error is not None else None,
        captured=redactor.deep(outcome.captured),
    )


def _plain_outcome(result: TaskResult) -> TaskOutcome:
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

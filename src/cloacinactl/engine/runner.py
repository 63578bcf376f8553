"""``Runner``: the embedded engine for Python users, tests, benchmarks and the services.

Trio-native use (the services)::

    runner = Runner("sqlite:///cloacina.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(workflow_def, code=ModuleSource("my.tasks"))
        result = await runner.aexecute("my_workflow", {"x": 1})
        await runner.ashutdown(deadline_s=30)

Plain-Python use runs the engine on a background thread::

    with Runner("sqlite:///cloacina.db") as runner:
        runner.register(workflow_def)
        result = runner.execute("my_workflow", {"x": 1})
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import trio

from cloacinactl.engine import ids, ops
from cloacinactl.engine.advance import resume_execution
from cloacinactl.engine.executor import Executor, ExecutorConfig, utcnow
from cloacinactl.engine.secretsource import SecretSource
from cloacinactl.engine.taskrun import TaskRunner
from cloacinactl.errors import CloacinaError, UserError
from cloacinactl.store import Store, executions, lifecycle, open_store, registry
from cloacinactl.store.executions import ExecutionResult
from cloacinactl.workers.sources import code_wire
from cloacinactl.workflow.context import to_json_value
from cloacinactl.workflow.model import WorkflowDef
from cloacinactl.workflow.states import ACTIVE_STATUSES, TERMINAL_STATUSES

T = TypeVar("T")
ACTIVE_TTL_S = 1.0


class Runner:
    """Execute registered workflows durably against ``database_url``.

    Without a ``task_runner`` the runner starts its own ``WorkerPool`` of
    ``workers`` processes; ``worker_memory_limit_mb`` is that pool's per-worker
    RSS limit (None: no limit).
    """

    def __init__(
        self,
        database_url: str,
        *,
        tenant: str = "public",
        workers: int | None = None,
        task_runner: TaskRunner | None = None,
        config: ExecutorConfig | None = None,
        store: Store | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        service: str = "cloacina",
        worker_memory_limit_mb: int | None = None,
        secrets: SecretSource | None = None,
    ) -> None:
        self.database_url = database_url
        self.service = service
        self.worker_memory_limit_mb = worker_memory_limit_mb  # for the pool it starts
        self._pool: Any = None
        self.tenant = tenant
        self.workers = workers or os.cpu_count() or 1
        self.config = config or ExecutorConfig(concurrency=self.workers)
        self._task_runner = task_runner
        self._store = store
        self._clock = clock
        self._executor: Executor | None = None
        self._done: dict[str, trio.Event] = {}
        self._results: dict[str, ExecutionResult] = {}
        self._serve_scope: trio.CancelScope | None = None
        self._executor_done = trio.Event()  # set when the executor's serve has returned
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread_error: BaseException | None = None
        self._ids = random.Random(os.urandom(32))
        self.secrets = secrets  # where tasks of workflows with secret slots get values

    # ------------------------------------------------------------------ trio API
    @property
    def store(self) -> Store:
        if self._store is None:
            raise UserError("the runner is not started")
        return self._store

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            raise UserError("the runner is not started")
        return self._executor

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the store (migrating it), start workers and the executor; run until
        cancelled or :meth:`ashutdown`."""
        if self._store is None:
            self._store = await trio.to_thread.run_sync(
                lambda: open_store(self.database_url, tenant=self.tenant)
            )
        async with trio.open_nursery() as nursery:
            runner = self._task_runner
            if runner is None:
                from cloacinactl.engine.pooled import PoolTaskRunner
                from cloacinactl.workers import WorkerPool

                self._pool = WorkerPool(
                    self.workers,
                    service=self.service,
                    memory_limit_mb=self.worker_memory_limit_mb,
                )
                await nursery.start(self._pool.serve)
                runner = PoolTaskRunner(self._pool)
            self._executor = Executor(
                self._store, runner, self.config, clock=self._clock, secrets=self.secrets
            )
            self._executor.on_finished(self._finished)
            await nursery.start(self._serve_executor)
            task_status.started()

    async def _serve_executor(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._executor_done = done = trio.Event()
        self._serve_scope = scope = trio.CancelScope()
        try:
            with scope:
                await self.executor.serve(task_status=task_status)
        finally:
            done.set()

    async def ashutdown(self, deadline_s: float = 30.0) -> bool:
        """Stop claiming, drain in-flight tasks up to ``deadline_s``, stop the executor
        (unfinished claims are handed back) and the workers."""
        drained = True
        if self._executor is not None:
            drained = await self.executor.drain(deadline_s)
        if self._serve_scope is not None:
            self._serve_scope.cancel()
            await self._executor_done.wait()  # its claims are handed back by then
        if self._pool is not None:
            await self._pool.stop()
        return drained

    def _finished(self, finished: Mapping[str, ExecutionResult | None]) -> None:
        for eid, result in finished.items():
            event = self._done.get(eid)
            if event is None:
                continue
            if event.statistics().tasks_waiting:
                if result is not None:
                    self._results[eid] = result  # the waiter takes it (no read needed)
            else:
                # nobody waits (a schedule started it, or its waiter is between looks):
                # keep nothing, or a daemon would hold every execution it ever ran; a
                # later wait() reads the outcome from the database
                del self._done[eid]
            event.set()

    async def _read(self, fn: Callable[[Any], T]) -> T:
        return await trio.to_thread.run_sync(self.store.read, fn)

    async def _write(self, fn: Callable[[Any], T]) -> T:
        return await self.executor.write(fn)

    async def aregister(
        self, workflow: WorkflowDef, code: Any = None, *, package_id: str | None = None
    ) -> str:
        """Validate and store ``workflow`` (+ where its code lives); returns its version."""
        wire = code_wire(code, workflow)
        now = self._clock()
        reg = await self._write(
            lambda c: registry.register(c, workflow, wire, package_id=package_id, now=now)
        )
        self.executor.defs.set_active(reg, time.monotonic() + ACTIVE_TTL_S)
        return reg.version

    async def aunregister(self, workflow: str) -> int:
        """Stop new executions of ``workflow`` (in-flight ones finish on their version)."""
        count = await self._write(lambda c: registry.unregister(c, workflow))
        self.executor.defs.forget_active(workflow)
        return count

    async def start_execution(
        self,
        workflow: str,
        context: Mapping[str, Any] | None = None,
        *,
        origin: str = "manual",
        package: str | None = None,
        trace_parent: str | None = None,
    ) -> str:
        """Create an execution of the active version of ``workflow``; returns its id.
        ``trace_parent``: the W3C traceparent its spans are parented under (tracing on)."""
        try:
            ctx = to_json_value(dict(context or {}), "execution context")
        except ValueError as exc:  # ContextError: a value that is not JSON
            raise UserError(str(exc)) from exc
        defs = self.executor.defs
        reg = defs.active_cached(workflow, time.monotonic())
        if reg is None:
            reg = await self._read(lambda c: defs.active(c, workflow))
            # a version registered by another process is seen within this many seconds
            defs.set_active(reg, time.monotonic() + ACTIVE_TTL_S)
        if reg.paused:
            raise UserError(f"workflow {workflow!r} is paused")
        # an os.urandom-seeded generator: no getrandom() syscall (a GIL hand-off to the
        # busy database thread) per execution
        eid = ids.execution_id(self._ids)
        self._done[eid] = trio.Event()
        await self.executor.create(ops.NewExecution(eid, reg, ctx, origin, trace_parent))
        return eid

    async def result(self, execution_id: str) -> ExecutionResult:
        return await self._read(lambda c: executions.execution_result(c, execution_id))

    async def is_active(self, execution_id: str) -> bool:
        status = await self._read(lambda c: executions.execution_status(c, execution_id))
        return status in ACTIVE_STATUSES

    async def wait(self, execution_id: str, *, timeout: float | None = None) -> ExecutionResult:
        """Wait until the execution is terminal (finished here or by another engine); a
        Paused execution is not, so this keeps waiting through a pause."""
        local = execution_id in self._done
        event = self._done.setdefault(execution_id, trio.Event())
        try:
            return await self._wait(execution_id, event, local, timeout)
        finally:
            # gone, timed out or cancelled: forget it unless another wait() still waits
            if not event.statistics().tasks_waiting and self._done.get(execution_id) is event:
                del self._done[execution_id]
                self._results.pop(execution_id, None)

    async def _wait(
        self, execution_id: str, event: trio.Event, local: bool, timeout: float | None
    ) -> ExecutionResult:
        with trio.fail_after(timeout if timeout is not None else float("inf")):
            while True:
                if local:
                    # created here: this engine's writer (or cancel) sets the event; the
                    # periodic check below covers a finish by another engine
                    local = False
                    with trio.move_on_after(0.5):
                        await event.wait()
                    done = self._results.pop(execution_id, None)
                    if done is not None:  # finished by this engine: no read needed
                        self._done.pop(execution_id, None)
                        return done
                status = await self._read(lambda c: executions.execution_status(c, execution_id))
                if status is None:
                    raise CloacinaError(f"execution {execution_id} not found")
                if status in TERMINAL_STATUSES:
                    self._done.pop(execution_id, None)
                    self._results.pop(execution_id, None)
                    return await self.result(execution_id)
                with trio.move_on_after(0.5):
                    await event.wait()

    async def aexecute(
        self,
        workflow: str,
        context: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> ExecutionResult:
        """Run ``workflow`` on ``context`` to a terminal state and return the result."""
        eid = await self.start_execution(workflow, context)
        return await self.wait(eid, timeout=timeout)

    async def acancel(self, execution_id: str) -> bool:
        now = self._clock()
        sql = self.executor.sql
        changed = await self._write(lambda c: lifecycle.cancel_execution(c, sql, execution_id, now))
        if changed:
            self._finished({execution_id: None})
        return changed

    async def apause(self, execution_id: str, reason: str | None = None) -> bool:
        """Pause a Pending or Running execution: its Running tasks finish (outcomes and
        outputs are kept) but no engine starts another task of it until :meth:`aresume`.
        False if it is already Paused; UserError if it is over; NotFoundError if unknown."""
        now = self._clock()
        sql = self.executor.sql
        return await self._write(
            lambda c: lifecycle.pause_execution(c, sql, execution_id, now, reason)
        )

    async def aresume(self, execution_id: str) -> bool:
        """Resume a Paused execution (Running again, or Pending if it never started); its
        Ready tasks are claimable at once, and if every task finished while it was paused
        it finishes now. False if it is not Paused; UserError if it is over."""
        now = self._clock()
        sql, defs = self.executor.sql, self.executor.defs
        advanced = await self._write(lambda c: resume_execution(c, sql, defs, execution_id, now))
        if advanced is None:
            return False
        if advanced.finished:
            self._finished(advanced.finished)
        self.executor.kick()
        return True

    async def events(self, execution_id: str) -> list[dict[str, Any]]:
        return await self._read(lambda c: executions.list_events(c, execution_id))

    # -------------------------------------------------------------- thread API
    def start(self) -> Runner:
        """Run the engine on a background thread (its own trio loop); returns when ready."""
        if self._thread is not None:
            return self
        ready = threading.Event()

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.serve)
                ready.set()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # reported to the caller of start()
                self._thread_error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="cloacina-runner", daemon=True)
        self._thread.start()
        ready.wait()
        if self._thread_error is not None:
            self._thread = None
            raise self._thread_error
        return self

    def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()`` in the engine's loop from the caller's thread; its result."""
        if self._token is None:
            raise UserError("the runner is not started; call start() first")
        return trio.from_thread.run(fn, trio_token=self._token)

    def shutdown(self, deadline_s: float = 30.0) -> bool:
        """Drain in-flight tasks up to ``deadline_s`` and stop the background thread."""
        if self._thread is None:
            return True
        drained = self._call(lambda: self.ashutdown(deadline_s))
        self._thread.join()
        self._thread = None
        self._token = None
        if self._store is not None:
            self._store.close()
            self._store = None
        return drained

    def register(self, workflow: WorkflowDef, code: Any = None, **kw: Any) -> str:
        return self._call(lambda: self.aregister(workflow, code, **kw))

    def execute(
        self,
        workflow: str,
        context: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> ExecutionResult:
        return self._call(lambda: self.aexecute(workflow, context, timeout=timeout))

    def submit(self, workflow: str, context: Mapping[str, Any] | None = None) -> str:
        return self._call(lambda: self.start_execution(workflow, context))

    def get(self, execution_id: str, *, timeout: float | None = None) -> ExecutionResult:
        return self._call(lambda: self.wait(execution_id, timeout=timeout))

    def cancel(self, execution_id: str) -> bool:
        return self._call(lambda: self.acancel(execution_id))

    def pause(self, execution_id: str, reason: str | None = None) -> bool:
        return self._call(lambda: self.apause(execution_id, reason))

    def resume(self, execution_id: str) -> bool:
        return self._call(lambda: self.aresume(execution_id))

    def __enter__(self) -> Runner:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()


__all__ = ["ExecutionResult", "Runner", "code_wire"]

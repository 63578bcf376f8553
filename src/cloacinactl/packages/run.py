"""``package run``: run one workflow of a package once, on a throw-away SQLite database.

The package is loaded exactly as the daemon would (safe unpack, manifest,
import in a subprocess), then a :class:`~cloacinactl.engine.runner.Runner` on
a temporary SQLite file executes the workflow with task code running in a
small :class:`~cloacinactl.engine.workers.WorkerPool` (never in this
process). Everything temporary is removed afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.packages.errors import PackageError

if TYPE_CHECKING:
    from cloacinactl.engine.queries import ExecutionResult
    from cloacinactl.engine.taskrun import TaskOutcome, TaskRequest
    from cloacinactl.engine.workers import WorkerPool
    from cloacinactl.packages.loader import LoadedPackage

MAX_WORKERS = 4


class PoolTaskRunner:
    """The engine's task-runner protocol served by a worker pool (task code in children)."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.captured: dict[str, list[str]] = {}

    async def run_task(self, request: TaskRequest) -> TaskOutcome:
        from cloacinactl.engine.taskrun import TaskOutcome
        from cloacinactl.engine.workers import TaskRequest as WorkerRequest
        from cloacinactl.engine.workers import source_from_dict

        result = await self.pool.run_task(
            WorkerRequest(
                source=source_from_dict(request.code),
                workflow=request.workflow,
                task_id=request.task_id,
                context=dict(request.context),
                execution_id=request.execution_id,
                attempt=request.attempt,
                timeout=request.timeout_s,
            )
        )
        text = (result.captured.stdout + result.captured.stderr).strip()
        if text:
            self.captured.setdefault(request.task_id, []).append(text)
        if result.status == "completed" and result.output is not None:
            return TaskOutcome(True, output=result.output)
        error = result.error
        if error is None:
            return TaskOutcome.failure("failed", "task failed without a reason")
        return TaskOutcome.failure(error.kind, error.message, transient=error.transient)


def read_context(source: str | None) -> dict[str, Any]:
    """The input context: ``None`` → ``{}``, ``-`` → stdin, else a JSON file; an object."""
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except OSError as exc:
        raise PackageError(f"cannot read context file {source}: {exc.strerror}") from exc
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise PackageError(f"--context {source}: invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise PackageError(f"--context {source}: the context must be a JSON object")
    return value


def pick_workflow(loaded: LoadedPackage, wanted: str | None) -> str:
    names = [wf["name"] for wf in loaded.description.get("workflows", [])]
    if wanted is not None:
        if wanted not in names:
            raise PackageError(
                f"package {loaded.manifest.name} has no workflow '{wanted}'",
                hint="it declares: " + (", ".join(names) or "none"),
            )
        return wanted
    if not names:
        raise PackageError(f"package {loaded.manifest.name} declares no workflow")
    if len(names) > 1:
        raise PackageError(
            f"package {loaded.manifest.name} declares {len(names)} workflows",
            hint="choose one with --workflow: " + ", ".join(names),
        )
    return str(names[0])


async def execute(
    loaded: LoadedPackage,
    workflow: str,
    context: dict[str, Any],
    database: Path,
    timeout: float,
) -> tuple[ExecutionResult, dict[str, list[str]]]:
    """Register the package's workflows on a fresh Runner and run ``workflow`` once."""
    import trio

    from cloacinactl.engine.runner import Runner
    from cloacinactl.engine.workers import WorkerPool

    tasks = next(len(w["tasks"]) for w in loaded.description["workflows"] if w["name"] == workflow)
    size = max(1, min(MAX_WORKERS, os.cpu_count() or 1, tasks))
    pool = WorkerPool(size, service="cloacina-run")
    task_runner = PoolTaskRunner(pool)
    runner = Runner(f"sqlite:///{database}", workers=size, task_runner=task_runner)
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        await nursery.start(runner.serve)
        try:
            for wf in loaded.workflows():
                await runner.aregister(wf, code=loaded.source())
            try:
                result = await runner.aexecute(workflow, context, timeout=timeout)
            except trio.TooSlowError:
                raise PackageError(f"the execution did not finish within {timeout:g}s") from None
        finally:
            await runner.ashutdown(deadline_s=5.0)
            await pool.stop()
            nursery.cancel_scope.cancel()
    return result, task_runner.captured


def quiet_service_logs(verbose: bool) -> None:
    """The engine and pool log through loguru (DEBUG by default): keep a CLI run quiet."""
    if verbose or os.environ.get("RUST_LOG", "").strip():
        return
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING", format="{level}: {message}")


def run_loaded(
    loaded: LoadedPackage,
    workflow: str | None,
    context: dict[str, Any],
    timeout: float,
    *,
    verbose: bool = False,
) -> tuple[ExecutionResult, dict[str, list[str]]]:
    """Blocking wrapper: run on a temp SQLite database that is removed afterwards."""
    import trio

    name = pick_workflow(loaded, workflow)
    quiet_service_logs(verbose)
    with tempfile.TemporaryDirectory(prefix="cloacina-run-db-") as tmp:
        return trio.run(execute, loaded, name, context, Path(tmp) / "run.db", timeout)

"""Measure the Cloacina engine on one backend and shape: workflows/s, tasks/s, latency."""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

import trio

from benchmarks.engine import shapes
from benchmarks.engine.shapes import MODULE, SHAPES
from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner, TaskRunner


@dataclass(frozen=True)
class Figures:
    backend: str
    shape: str
    runner: str
    workflows: int
    tasks: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def workflows_per_s(self) -> float:
        return self.workflows / self.elapsed_s

    @property
    def tasks_per_s(self) -> float:
        return self.tasks / self.elapsed_s


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(
    url: str,
    backend: str,
    shape: str,
    count: int,
    concurrency: int,
    runner_kind: str,
    workers: int,
    memory_limit_mb: int | None = None,
    context_rows: int = 0,
) -> Figures:
    task_runner: TaskRunner | None = (
        InProcessTaskRunner(inline=True) if runner_kind == "inline" else None
    )
    # in-flight task cap: enough to keep every client's next task claimable in one batch
    config = ExecutorConfig(
        concurrency=max(concurrency * 5, 8), batch_size=512, poll_interval_s=0.05
    )
    runner = Runner(
        url,
        task_runner=task_runner,
        config=config,
        workers=workers,
        service="cloacina-bench",
        worker_memory_limit_mb=memory_limit_mb,
    )
    workflow = SHAPES[shape]()
    code: dict[str, Any] = {"kind": "module", "module": MODULE, "sys_path": []}
    # rows every task passes on unchanged (the shapes' task only bumps "n")
    inputs: dict[str, Any] = {"n": 0}
    if context_rows:
        inputs["rows"] = shapes.context_rows(context_rows)
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(workflow, code)
        for _ in range(5):  # warm-up: imports, caches, worker sources
            await runner.aexecute(workflow.name, inputs)
        # as the services do once ready (cloacinactl.supervisor.runner._settle_heap): a
        # full collection walks every object (50-200 ms here), so start-up objects are
        # collected once and frozen; unfrozen again below
        gc.collect()
        gc.freeze()
        runner.executor.latencies_ms = []
        failed = 0
        next_index = 0

        async def client() -> None:
            nonlocal next_index, failed
            while next_index < count:
                next_index += 1
                result = await runner.aexecute(workflow.name, inputs)
                failed += result.status != "Completed"

        started = time.perf_counter()
        async with trio.open_nursery() as clients:
            for _ in range(concurrency):
                clients.start_soon(client)
        elapsed = time.perf_counter() - started
        latencies = runner.executor.latencies_ms or []
        await runner.ashutdown(10)
    gc.unfreeze()
    return Figures(
        backend,
        shape,
        runner_kind,
        count,
        count * len(workflow.tasks),
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        failed,
    )

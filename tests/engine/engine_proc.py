"""A stand-alone engine process for the crash-safety and scale-out tests.

python engine_proc.py URL submit WORKFLOW COUNT LOG SLEEP  # register + create executions
python engine_proc.py URL run [CONCURRENCY]            # run until nothing is active
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import flows
import trio
from sqlalchemy import func, select

from cloacinactl.engine.executor import ExecutorConfig
from cloacinactl.engine.runner import Runner
from cloacinactl.engine.taskrun import InProcessTaskRunner
from cloacinactl.store import schema as s

SHAPES = {
    "pipeline": flows.pipeline,
    "parallel": flows.parallel,
    "simple": flows.simple,
}


def active(runner: Runner) -> int:
    stmt = (
        select(func.count())
        .select_from(s.executions)
        .where(s.executions.c.status.in_(["Pending", "Running"]))
    )
    return int(runner.store.read(lambda c: c.execute(stmt).scalar()) or 0)


async def submit(url: str, shape: str, count: int, log: str, sleep: float) -> None:
    runner = Runner(url, task_runner=InProcessTaskRunner(), config=ExecutorConfig(concurrency=0))
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(SHAPES[shape](shape), flows.CODE)
        async with trio.open_nursery() as inner:
            for i in range(count):
                inner.start_soon(
                    runner.start_execution, shape, {"log": log, "run": i, "sleep_each": sleep}
                )
        await runner.ashutdown(1)


def run(url: str, concurrency: int) -> None:
    config = ExecutorConfig(
        concurrency=concurrency, poll_interval_s=0.02, heartbeat_interval_s=0.2, stale_after_s=3
    )
    runner = Runner(url, task_runner=InProcessTaskRunner(), config=config)
    with runner:
        print("ready", flush=True)
        while active(runner):
            time.sleep(0.1)


if __name__ == "__main__":
    url, mode = sys.argv[1], sys.argv[2]
    if mode == "submit":
        trio.run(submit, url, sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
    else:
        run(url, int(sys.argv[3]) if len(sys.argv) > 3 else 8)

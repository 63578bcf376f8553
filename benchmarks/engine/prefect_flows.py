"""Runs INSIDE the Prefect venv (no cloacinactl import): the same three shapes on Prefect 3.

python prefect_flows.py SHAPE COUNT CONCURRENCY  -> prints one JSON line
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from prefect import flow, task


@task
def work(ctx: dict) -> dict:
    return {**ctx, "n": int(ctx.get("n", 0)) + 1}


@flow
def simple(ctx: dict) -> dict:
    return work(ctx)


@flow
def pipeline(ctx: dict) -> dict:
    return work(work(work(ctx)))


@flow
def parallel(ctx: dict) -> dict:
    base = work(ctx)
    futures = [work.submit(base) for _ in range(3)]
    parts = [f.result() for f in futures]
    merged: dict = {}
    for p in parts:
        merged.update(p)
    return work(merged)


FLOWS = {"simple": (simple, 1), "pipeline": (pipeline, 3), "parallel": (parallel, 5)}


def main() -> None:
    shape, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fn, tasks = FLOWS[shape]
    fn({"n": 0})  # warm-up: starts the local server, creates the database
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda i: fn({"n": i}), range(count)))
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "shape": shape,
                "workflows": count,
                "elapsed_s": elapsed,
                "workflows_per_s": count / elapsed,
                "tasks_per_s": count * tasks / elapsed,
            }
        )
    )


if __name__ == "__main__":
    main()

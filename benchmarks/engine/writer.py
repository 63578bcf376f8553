"""The engine's writer alone: CPU per task of its transactions, on one thread.

The pool benchmark's figure is bounded by the writer (one serial step per
batch), but under load its time per task mixes the writer's own work with waits
for the GIL and the cores. This drives the same ``ops.cycle`` transactions with
no event loop, no workers and no other thread: create a wave of executions,
then cycle (apply the last cycle's claims as completed with a small output,
advance, claim the next) until every execution is over. What it prints is the
writer's own CPU time per task and its split into SQLite and Python, steady
enough on a shared machine to compare two versions of the hot path.

    python -m benchmarks.engine.writer [--workflows 2000] [--wave 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.engine import shapes
from benchmarks.engine.shapes import SHAPES
from cloacinactl.engine import ids, ops
from cloacinactl.store import open_store, registry
from cloacinactl.store.claims import Claimed
from cloacinactl.store.fastsql import sql_for
from cloacinactl.store.registry import DefCache


def _outcomes(claimed: list[Claimed], output: str) -> list[ops.Outcome]:
    # each output decoded on its own, as from a worker's frame
    return [
        ops.Outcome(
            c.task_pk, c.execution_id, c.task_name, c.attempt, "completed", json.loads(output)
        )
        for c in claimed
    ]


def run_once(path: Path, shape: str, workflows: int, wave: int, rows: int = 0) -> tuple[float, int]:
    """Seconds of this thread's CPU for ``workflows`` executions of ``shape``, and the
    tasks they ran; ``wave`` new executions join each cycle, as under steady load.
    ``rows``: the input carries that many rows, and every task's output passes them on."""
    now = dt.datetime.now(dt.UTC)
    inputs: dict[str, Any] = {"n": 0}
    if rows:
        inputs["rows"] = shapes.context_rows(rows)
    output = json.dumps({**inputs, "n": 1})
    workflow = SHAPES[shape]()
    with open_store(f"sqlite:///{path}") as store:
        reg = store.write(
            lambda c: registry.register(
                c, workflow, {"kind": "module", "module": "x", "sys_path": []}, now=now
            )
        )
        sql = sql_for("sqlite", "main")
        defs = DefCache()
        rng = random.Random(0)
        # the engine's time-ordered ids (ids.py: random ones scatter every index)
        pending = [ops.NewExecution(ids.execution_id(rng), reg, inputs) for _ in range(workflows)]
        claimed: list[Claimed] = []
        tasks = 0
        started = time.thread_time()
        while pending or claimed:
            create, pending = pending[:wave], pending[wave:]
            work = partial(
                ops.cycle,
                sql=sql,
                claimant_id="bench",
                defs=defs,
                now=dt.datetime.now(dt.UTC),
                create=create,
                outcomes=_outcomes(claimed, output),
                claim_limit=256,
            )
            result = store.write(work)
            tasks += len(claimed)
            claimed = result.claimed
        return time.thread_time() - started, tasks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.engine.writer", description=__doc__)
    p.add_argument("--workflows", type=int, default=2000)
    p.add_argument("--wave", type=int, default=4, help="new executions per cycle")
    p.add_argument("--shapes", default="simple,pipeline,parallel")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--context-rows",
        type=int,
        default=0,
        metavar="N",
        help="each execution's input carries N rows that every task passes on (1000: ~43 KB)",
    )
    args = p.parse_args(argv)
    print(
        f"workflows={args.workflows} wave={args.wave} context_rows={args.context_rows}:"
        " the writer's CPU per task (us)"
    )
    with tempfile.TemporaryDirectory(prefix="cloacina-writer-") as tmp:
        for shape in args.shapes.split(","):
            per_task = []
            for rep in range(args.repeat):
                cpu, tasks = run_once(
                    Path(tmp) / f"{shape}-{rep}.db",
                    shape,
                    args.workflows,
                    args.wave,
                    args.context_rows,
                )
                per_task.append(cpu / tasks * 1e6)
            spread = ", ".join(f"{v:.1f}" for v in per_task)
            print(f"  {shape:<10} median {statistics.median(per_task):7.1f}   runs: {spread}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

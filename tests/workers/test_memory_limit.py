"""Memory: a task that hogs or leaks costs one attempt (or nothing), never the service.

Real worker processes with a small limit (150 MiB; an idle worker is ~25 MiB).
"""

from __future__ import annotations

import itertools
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio
from loguru import logger

from cloacinactl.supervisor import BackoffPolicy
from cloacinactl.workers import ModuleSource, TaskRequest, TaskResult, WorkerPool
from cloacinactl.workers.memory import WORKER_OOM_BOOST, raised_oom_score

from .conftest import FLOWS
from .test_pool_batch import run_all

MEMORY = ModuleSource("wf_memory", (str(FLOWS),))
LIMIT_MB = 150
# Anything the supervisor counted as a crash would make the worker FATAL at once.
STRICT = BackoffPolicy(
    initial_s=0.01, max_s=0.01, jitter=0.0, fast_crash_s=1000, max_fast_crashes=1
)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def task(name: str, context: dict[str, object] | None = None, **kw: object) -> TaskRequest:
    return TaskRequest(
        source=MEMORY,
        workflow="wf",
        task_id=name,
        context=context or {},
        execution_id="exec-mem",
        attempt=1,
        timeout=float(kw.get("timeout", 30.0)),  # type: ignore[arg-type]
    )


@pytest.fixture
async def limited(nursery: trio.Nursery) -> AsyncIterator[WorkerPool]:
    """One worker with a 150 MiB limit; crash-intolerant, so any counted crash shows."""
    pool = WorkerPool(
        size=1, service="cloacina-test", grace_s=1.0, backoff=STRICT, memory_limit_mb=LIMIT_MB
    )
    await nursery.start(pool.serve)
    try:
        yield pool
    finally:
        await pool.stop()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message}")
    try:
        yield lines
    finally:
        logger.remove(handler)


def assert_killed_for_memory(result: TaskResult) -> None:
    error = result.error
    assert result.status == "failed" and error is not None, result
    assert error.kind == "memory_limit", error
    assert f"worker 1 (pid {result.pid}) exceeded the {LIMIT_MB} MiB memory limit" in (
        error.message
    )
    assert "RSS " in error.message and "killed and replaced" in error.message
    assert error.signal == signal.SIGKILL, error  # the whole group, at once
    assert "hogging 400 MiB" in result.captured.stdout, "output is kept, like a crash's"


@linux_only
async def test_workers_ask_the_oom_killer_to_take_them_first(pool: WorkerPool) -> None:
    mine = int(Path("/proc/self/oom_score_adj").read_text())
    for worker in pool.stats()["per_worker"]:
        score = int(Path(f"/proc/{worker['pid']}/oom_score_adj").read_text())
        assert score == raised_oom_score(mine) > mine or mine == 1000
    assert int(Path("/proc/self/oom_score_adj").read_text()) == mine, "the pool's own is unchanged"


def test_raised_oom_score_only_ever_raises() -> None:
    assert raised_oom_score(0) == WORKER_OOM_BOOST
    assert raised_oom_score(-900) == WORKER_OOM_BOOST  # above a protected supervisor
    assert raised_oom_score(300) == 300 + WORKER_OOM_BOOST
    assert raised_oom_score(800) == 1000 and raised_oom_score(1000) == 1000


async def test_a_hog_fails_its_attempt_and_the_next_task_gets_a_fresh_worker(
    limited: WorkerPool,
) -> None:
    hog = await limited.run_task(task("hog", {"mib": 400}))
    assert_killed_for_memory(hog)
    after = await limited.run_task(task("quick", {"n": 1}))
    assert after.ok and after.output == {"n": 2, "pid": after.pid}
    assert after.pid != hog.pid
    stats = limited.stats()
    assert stats["states"] == {"RUNNING": 1} and stats["restarts"] == 1
    assert stats["memory_limit_mb"] == LIMIT_MB


async def test_a_hog_in_a_chunk_fails_alone_and_the_attempts_behind_it_run_later(
    limited: WorkerPool,
) -> None:
    for name in ("quick", "hog"):  # both look quick: one chunk holds them all
        limited.sizer.observe(("wf", name), 0.001)
    requests = [
        task("quick", {"n": 1}),
        task("hog", {"mib": 400}),
        task("quick", {"n": 2}),
        task("quick", {"n": 3}),
    ]
    results = await run_all(limited, requests)
    assert_killed_for_memory(results[1])
    assert [results[i].output["n"] for i in (0, 2, 3)] == [2, 3, 4]  # type: ignore[index]
    assert results[0].pid == results[1].pid, "the one before ran on the hog's worker"
    assert results[2].pid == results[3].pid != results[1].pid, "the rest on its replacement"


async def test_a_leak_recycles_the_worker_between_calls_and_fails_nothing(
    limited: WorkerPool, log_lines: list[str]
) -> None:
    results = []
    for _ in range(8):
        results.append(await limited.run_task(task("leak", {"mib": 50})))
        # room for the after-call check (at most one read per 100 ms per worker) or
        # the idle scan to see the worker before the next call
        await trio.sleep(0.25)
    assert all(r.ok for r in results), [r.error for r in results]
    outputs = [r.output or {} for r in results]
    assert len({o["pid"] for o in outputs}) >= 2, outputs
    for before, after in itertools.pairwise(outputs):
        if before["rss_mib"] > LIMIT_MB:  # it went over: the next call has a fresh worker
            assert after["pid"] != before["pid"] and after["held"] == 1, outputs
        else:
            assert after["pid"] == before["pid"] and after["held"] == before["held"] + 1
    recycled = [line for line in log_lines if line.startswith("recycling worker")]
    assert recycled and all(f"MiB over the {LIMIT_MB} MiB limit" in line for line in recycled)
    assert limited.stats()["states"] == {"RUNNING": 1}, "recycles are not crashes"


async def test_max_calls_recycling_is_not_counted_as_a_crash(nursery: trio.Nursery) -> None:
    pool = WorkerPool(size=1, service="cloacina-test", backoff=STRICT, max_calls_per_worker=1)
    await nursery.start(pool.serve)
    try:
        pids = [(await pool.run_task(task("quick"))).pid for _ in range(3)]
        assert len(set(pids)) == 3
        assert pool.stats()["states"] == {"RUNNING": 1}
    finally:
        await pool.stop()


def test_the_limit_must_be_positive() -> None:
    from cloacinactl.errors import CloacinaError

    with pytest.raises(CloacinaError, match="at least 1 MiB"):
        WorkerPool(size=1, memory_limit_mb=0)

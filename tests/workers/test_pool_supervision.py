"""The pool on the supervisor's API: restart() for timeouts, forgive() for task
crashes, stop() for shutdown, and a real crash loop still ending in FATAL."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
import trio

from cloacinactl.supervisor import BackoffPolicy
from cloacinactl.workers import WorkerPool, WorkerStartError

from .conftest import worker_pids

# One fast crash is already too many: anything counted as a crash goes FATAL.
STRICT = BackoffPolicy(
    initial_s=0.01, max_s=0.01, jitter=0.0, fast_crash_s=1000, max_fast_crashes=1
)


def alive(pids: set[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


async def test_timeouts_and_task_crashes_never_make_a_worker_fatal(
    nursery: trio.Nursery, request_for
) -> None:
    pool = WorkerPool(size=1, service="cloacina-test", grace_s=1.0, backoff=STRICT)
    await nursery.start(pool.serve)
    try:
        kinds = []
        for task, timeout in [("exits", 20.0), ("hangs", 0.3), ("aborts", 20.0)] * 2:
            result = await pool.run_task(request_for(task, timeout=timeout))
            assert result.error is not None
            kinds.append(result.error.kind)
        assert kinds == ["crashed", "timeout", "crashed"] * 2
        after = await pool.run_task(request_for("add_one", {"n": 1}))
        assert after.output == {"n": 2}
        stats = pool.stats()
        assert stats["restarts"] == 6 and stats["states"] == {"RUNNING": 1}
    finally:
        await pool.stop()


async def test_stop_during_a_timeout_restart_leaves_nothing(
    nursery: trio.Nursery, request_for
) -> None:
    before = worker_pids()
    pool = WorkerPool(size=2, service="cloacina-test", grace_s=0.5)
    await nursery.start(pool.serve)
    result = await pool.run_task(request_for("hangs", timeout=0.2))
    assert result.error is not None and result.error.kind == "timeout"
    # The replacement is being started right now: stop must not hang on it.
    with trio.fail_after(15):
        await pool.stop()
    assert alive(worker_pids() - before) == []
    assert pool.stats()["states"] == {"STOPPED": 2}


async def test_stop_with_calls_in_flight_cancels_them(nursery: trio.Nursery, request_for) -> None:
    before = worker_pids()
    pool = WorkerPool(size=2, service="cloacina-test", grace_s=0.3)
    await nursery.start(pool.serve)
    results = []

    async def hang() -> None:
        results.append(await pool.run_task(request_for("hangs", timeout=60)))

    for _ in range(2):
        nursery.start_soon(hang)
    while pool.stats()["busy"] < 2:
        await trio.sleep(0.01)
    await trio.sleep(0.2)
    with trio.fail_after(15):
        await pool.stop()
    while len(results) < 2:
        await trio.sleep(0.01)
    assert [r.error.kind for r in results if r.error is not None] == ["cancelled", "cancelled"]
    assert alive(worker_pids() - before) == []


WRAPPER = """#!/bin/sh
# The first start runs the real worker; every later start crashes at once.
if [ -e "{marker}" ]; then exit 9; fi
touch "{marker}"
exec "{python}" "$@"
"""


async def test_a_worker_crash_loop_after_start_fails_serve(tmp_path: Path) -> None:
    wrapper = tmp_path / "python"
    wrapper.write_text(WRAPPER.format(marker=tmp_path / "started", python=sys.executable))
    wrapper.chmod(0o755)
    pool = WorkerPool(size=1, service="cloacina-test", python=str(wrapper), backoff=STRICT)
    gave_up = pytest.RaisesExc(WorkerStartError, match="every worker gave up")
    with pytest.RaisesGroup(gave_up):
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(pool.serve)
                pid = pool.stats()["per_worker"][0]["pid"]
                os.kill(pid, signal.SIGKILL)  # the replacement crashes: FATAL
                await trio.sleep_forever()
    assert pool.stats()["states"] == {"FATAL": 1}

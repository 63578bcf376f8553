"""Pool behaviour with real processes: timeouts, crashes, affinity, triggers, shutdown."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import trio

from cloacinactl.workers import WorkerPool

from .conftest import BASIC, worker_pids


async def test_timeout_kills_and_replaces_the_worker(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("hangs", timeout=0.5))
    assert result.error is not None and result.error.kind == "timeout"
    assert result.error.transient
    assert "0.5 s" in result.error.message and "killed" in result.error.message
    assert "going to sleep" in result.captured.stdout
    assert result.pid is not None and not psutil.pid_exists(result.pid)
    # The replacement serves normally.
    results = [await pool.run_task(request_for("pid")) for _ in range(4)]
    assert all(r.ok for r in results)
    assert pool.stats()["restarts"] >= 1


async def test_timeout_kills_the_whole_process_group(
    pool: WorkerPool, request_for, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    result = await pool.run_task(
        request_for("spawns_grandchild", {"pidfile": str(pidfile)}, timeout=1.0)
    )
    assert result.error is not None and result.error.kind == "timeout"
    grandchild = int(pidfile.read_text())
    assert not psutil.pid_exists(grandchild) or (
        psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    )


async def test_other_calls_keep_running_during_a_hang(pool: WorkerPool, request_for) -> None:
    order: list[str] = []

    async def hang() -> None:
        result = await pool.run_task(request_for("hangs", timeout=3.0))
        assert result.error is not None and result.error.kind == "timeout"
        order.append("hang")

    async def short(i: int) -> None:
        result = await pool.run_task(request_for("add_one", {"n": i}))
        assert result.output == {"n": i + 1}
        order.append("short")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hang)
        await trio.sleep(0.1)
        for i in range(6):
            nursery.start_soon(short, i)
    assert order == ["short"] * 6 + ["hang"]


async def test_crash_does_not_disturb_a_concurrent_call(pool: WorkerPool, request_for) -> None:
    async with trio.open_nursery() as nursery:
        results = {}

        async def run(name: str, task: str, ctx: dict[str, object]) -> None:
            results[name] = await pool.run_task(request_for(task, ctx))

        nursery.start_soon(run, "slow", "sleeps", {"seconds": 0.5})
        await trio.sleep(0.1)
        nursery.start_soon(run, "crash", "aborts", {})
    assert results["slow"].ok and results["slow"].output["slept"] == 0.5
    assert results["crash"].error is not None and results["crash"].error.kind == "crashed"


async def test_module_is_imported_once_per_worker(
    pool: WorkerPool, request_for, counter_file: Path
) -> None:
    async with trio.open_nursery() as nursery:
        for i in range(12):
            nursery.start_soon(pool.run_task, request_for("add_one", {"n": i}))
    imports = counter_file.read_text().split()
    assert 1 <= len(imports) <= 2
    assert len(set(imports)) == len(imports)  # never twice in one worker
    cached = await pool.run_task(request_for("pid"))
    assert cached.source_cached


async def test_affinity_prefers_the_worker_that_loaded_the_source(
    pool: WorkerPool, request_for, counter_file: Path
) -> None:
    for _ in range(5):
        result = await pool.run_task(request_for("pid"))
        assert result.ok
    assert len(counter_file.read_text().split()) == 1


async def test_poll_trigger_results(pool: WorkerPool) -> None:
    fired = await pool.poll_trigger(BASIC, "poll_fire_bool")
    skipped = await pool.poll_trigger(BASIC, "poll_skip_bool")
    bad = await pool.poll_trigger(BASIC, "poll_bad")
    assert (fired.ok, fired.fire, fired.context) == (True, True, None)
    assert (skipped.ok, skipped.fire) == (True, False)
    assert not bad.ok and not bad.fire
    assert bad.error is not None and bad.error.kind == "bad_return"


async def test_poll_trigger_timeout(pool: WorkerPool) -> None:
    result = await pool.poll_trigger(BASIC, "poll_hangs", timeout=0.3)
    assert result.error is not None and result.error.kind == "timeout" and not result.fire


async def test_caller_cancellation_replaces_the_busy_worker(pool: WorkerPool, request_for) -> None:
    with trio.move_on_after(0.5):
        await pool.run_task(request_for("hangs", timeout=None))
    results = [await pool.run_task(request_for("add_one", {"n": 1})) for _ in range(3)]
    assert all(r.output == {"n": 2} for r in results)


async def test_titles_and_sigint(pool: WorkerPool, request_for) -> None:
    stats = pool.stats()
    pids = [w["pid"] for w in stats["per_worker"]]
    assert stats["ready"] == 2 and all(pids)
    titles = sorted(" ".join(psutil.Process(pid).cmdline()).strip() for pid in pids)
    assert titles == ["cloacina-test: worker 1", "cloacina-test: worker 2"]
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    await trio.sleep(0.2)
    assert all(psutil.pid_exists(pid) for pid in pids)
    assert (await pool.run_task(request_for("add_one"))).ok
    assert pool.stats()["restarts"] == 0


async def test_stop_leaves_no_processes(nursery: trio.Nursery, request_for, tmp_path) -> None:
    before = worker_pids()
    pool = WorkerPool(size=3, service="cloacina-test", grace_s=0.5)
    await nursery.start(pool.serve)
    pidfile = tmp_path / "gc.pid"

    async def busy() -> None:
        await pool.run_task(request_for("spawns_grandchild", {"pidfile": str(pidfile)}))

    nursery.start_soon(busy)
    while not pidfile.exists():
        await trio.sleep(0.02)
    started = worker_pids() - before
    assert len(started) >= 4  # three workers and a grandchild
    await pool.stop()
    alive = [p for p in started if psutil.pid_exists(p)]
    zombies_only = all(psutil.Process(p).status() == psutil.STATUS_ZOMBIE for p in alive)
    assert not alive or zombies_only, alive


async def test_workers_are_recycled_after_max_calls(nursery: trio.Nursery, request_for) -> None:
    pool = WorkerPool(size=1, service="cloacina-test", grace_s=0.5, max_calls_per_worker=2)
    await nursery.start(pool.serve)
    try:
        pids = [(await pool.run_task(request_for("pid"))).output["pid"] for _ in range(5)]
    finally:
        await pool.stop()
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


HOST = """
import sys, trio
from pathlib import Path
from cloacinactl.workers import WorkerPool

async def main():
    pool = WorkerPool(size=2, service="cloacina-test", capture_root=Path(sys.argv[2]))
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        pids = [w["pid"] for w in pool.stats()["per_worker"]]
        with open(sys.argv[1], "w") as f:
            f.write(" ".join(map(str, pids)))
        await trio.sleep_forever()

trio.run(main)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_workers_exit_when_the_pool_process_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys

    pidfile = tmp_path / "pids"
    captures = tmp_path / "captures"
    captures.mkdir()
    host = subprocess.Popen([sys.executable, "-c", HOST, str(pidfile), str(captures)])
    pids: list[int] = []
    try:
        with trio.fail_after(30):
            while not pidfile.exists() or not pidfile.read_text():
                await trio.sleep(0.05)
        pids = [int(p) for p in pidfile.read_text().split()]
        assert len(pids) == 2 and not any(gone(p) for p in pids)
        host.kill()
        host.wait()
        with trio.move_on_after(20):
            while not all(gone(p) for p in pids):
                await trio.sleep(0.05)
        assert all(gone(p) for p in pids), "workers outlived their pool process"
        # Orphans remove their capture files (the folder too, when they see the parent gone).
        assert [p.name for p in captures.rglob("*") if p.is_file()] == []
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        for pid in pids:
            if not gone(pid):
                os.killpg(pid, signal.SIGKILL)


async def test_a_worker_that_cannot_start_fails_serve(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    import pytest

    from cloacinactl.supervisor import BackoffPolicy
    from cloacinactl.workers import WorkerStartError

    pool = WorkerPool(
        size=1,
        service="cloacina-test",
        python="/bin/false",
        backoff=BackoffPolicy(initial_s=0.01, max_s=0.01, max_fast_crashes=2),
        capture_root=tmp_path,
    )
    with pytest.raises(WorkerStartError, match="worker 1 could not start"):
        await nursery.start(pool.serve)
    assert list(tmp_path.iterdir()) == []  # the capture folder is cleaned up

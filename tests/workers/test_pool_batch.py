"""``WorkerPool.run_tasks``: many attempts per worker round trip, same semantics each."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from cloacinactl.workers import TaskRequest, TaskResult, WorkerPool
from cloacinactl.workers.batch import ChunkSizer


async def run_all(pool: WorkerPool, requests: Sequence[TaskRequest]) -> list[TaskResult]:
    got: dict[int, list[TaskResult]] = {}
    await pool.run_tasks(requests, lambda i, r: got.setdefault(i, []).append(r))
    assert sorted(got) == list(range(len(requests)))
    assert all(len(v) == 1 for v in got.values()), "each attempt is delivered exactly once"
    return [got[i][0] for i in range(len(requests))]


async def test_many_quick_tasks_share_round_trips(pool: WorkerPool, request_for) -> None:
    await run_all(pool, [request_for("add_one", {"n": 0})])  # measured once: now chunkable
    before = sum(s.calls for s in pool._slots)
    results = await run_all(pool, [request_for("add_one", {"n": i}) for i in range(40)])
    assert [r.output for r in results] == [{"n": i + 1} for i in range(40)]
    assert sum(s.calls for s in pool._slots) - before == 40
    assert {r.worker for r in results} == {1, 2}, "the chunks are spread over both workers"


async def test_with_the_other_worker_busy_a_batch_takes_one_round_trip(
    pool: WorkerPool, request_for
) -> None:
    pool.sizer.observe(("wf", "add_one"), 0.0001)  # quick: 20 fit one chunk's budget
    slow_done: list[TaskResult] = []
    sent: list[int] = []
    async with trio.open_nursery() as nursery:

        async def slow() -> None:
            slow_done.append(await pool.run_task(request_for("sleeps", {"seconds": 1.0})))

        nursery.start_soon(slow)
        while pool.stats()["busy"] < 1:
            await trio.sleep(0.01)
        for slot in pool._slots:
            assert slot.conn is not None
            original = slot.conn.send_requests

            async def counted(calls, original=original):  # type: ignore[no-untyped-def]
                sent.append(len(calls))
                return await original(calls)

            slot.conn.send_requests = counted  # type: ignore[method-assign]
        results = await run_all(pool, [request_for("add_one", {"n": i}) for i in range(20)])
        assert not slow_done, "the batch ran while the slow task held its worker"
    assert [r.output for r in results] == [{"n": i + 1} for i in range(20)]
    assert len({r.worker for r in results}) == 1
    assert sent == [20], "one round trip, not a half share and a wait for the busy worker"
    assert slow_done[0].ok


async def test_captured_output_stays_with_its_task(pool: WorkerPool, request_for) -> None:
    pool.sizer.observe(("wf", "noisy"), 0.001)
    pool.sizer.observe(("wf", "add_one"), 0.001)
    results = await run_all(
        pool, [request_for("noisy"), request_for("add_one"), request_for("noisy")]
    )
    assert "hello from print" in results[0].captured.stdout
    assert results[1].captured.stdout == ""
    assert "hello from print" in results[2].captured.stdout


async def test_timeout_at_the_head_fails_it_and_the_rest_run_elsewhere(
    pool: WorkerPool, request_for
) -> None:
    pool.sizer.observe(("wf", "sleeps"), 0.001)  # looks quick: it gets a chunk behind it
    pool.sizer.observe(("wf", "add_one"), 0.001)
    requests = [
        request_for("add_one", {"n": 1}),
        request_for("sleeps", {"seconds": 30}, timeout=0.5),
        request_for("add_one", {"n": 2}),
        request_for("add_one", {"n": 3}),
    ]
    results = await run_all(pool, requests)
    assert results[1].error is not None and results[1].error.kind == "timeout"
    assert [results[i].output for i in (0, 2, 3)] == [{"n": 2}, {"n": 3}, {"n": 4}]


async def test_crash_mid_chunk_fails_one_attempt_only(pool: WorkerPool, request_for) -> None:
    pool.sizer.observe(("wf", "exits"), 0.001)
    pool.sizer.observe(("wf", "add_one"), 0.001)
    requests = [request_for("add_one", {"n": i}) for i in range(3)]
    requests[1] = request_for("exits")
    requests.append(request_for("add_one", {"n": 9}))
    results = await run_all(pool, requests)
    crashed = results[1]
    assert crashed.error is not None and crashed.error.kind == "crashed", crashed.error
    assert [results[i].output for i in (0, 2, 3)] == [{"n": 1}, {"n": 3}, {"n": 10}]
    after = await run_all(pool, [request_for("add_one", {"n": 0})] * 4)
    assert all(r.ok for r in after), "the crashed worker was replaced"


async def test_bad_input_is_delivered_without_a_worker(pool: WorkerPool, request_for) -> None:
    results = await run_all(pool, [request_for("add_one", {"when": {1, 2}})])
    assert results[0].error is not None and results[0].error.kind == "bad_input"


def test_chunk_sizer_keeps_slow_and_unknown_tasks_alone() -> None:
    sizer = ChunkSizer(budget_s=0.02)
    fast, slow, unknown = ("w", "fast"), ("w", "slow"), ("w", "new")
    sizer.observe(fast, 0.0015)
    sizer.observe(slow, 1.0)
    assert sizer.size([fast] * 100, 50) == 13  # the time budget
    assert sizer.size([fast] * 100, 5) == 5  # a fair share per worker
    assert sizer.size([fast, fast, unknown, fast], 4) == 2  # stops before an unmeasured task
    assert sizer.size([unknown, fast], 2) == 1
    assert sizer.size([slow, fast], 2) == 1
    assert sizer.size([fast, slow], 2) == 1

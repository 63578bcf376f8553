"""The trio behaviour ``store.cronslots.after_this_round`` leans on (issue #11 item 5):
tasks the caller made runnable (a finished batch wakes its callers) all run up to
their next checkpoint before two shielded checkpoints of the caller return. If a trio
release changes that, this test fails and the cron write batcher must be revisited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio
import trio.testing

from cloacinactl.store.cronslots import after_this_round


async def _arrived_before_leader(wait: Callable[[], Awaitable[None]], callers: int) -> int:
    """The leader wakes ``callers`` tasks (as a finished batch wakes its callers) and goes
    straight on to lead the next batch: how many ran before its ``wait()`` returned?"""
    go = trio.Event()
    arrived: list[int] = []
    seen: list[int] = []

    async def caller(i: int) -> None:
        await go.wait()
        arrived.append(i)

    async def leader() -> None:
        go.set()
        await wait()
        seen.append(len(arrived))

    async with trio.open_nursery() as nursery:
        for i in range(callers):
            nursery.start_soon(caller, i)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(leader)
    return seen[0]


async def test_same_round_tasks_run_before_the_caller_goes_on() -> None:
    for _ in range(50):  # trio shuffles each scheduling batch: try many orders
        assert await _arrived_before_leader(after_this_round, 20) == 20


async def test_one_checkpoint_is_not_enough() -> None:
    # why two: with one, some orders let the leader go on before the others queued
    async def one() -> None:
        await trio.lowlevel.cancel_shielded_checkpoint()

    counts = {await _arrived_before_leader(one, 20) for _ in range(200)}
    assert min(counts) < 20

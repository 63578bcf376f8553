"""CronSlots coalesces writes that arrive together: one transaction for many slots,
each caller still getting its own answer (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import trio
import trio.testing
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from cloacinactl.store import Store, open_store
from cloacinactl.store import schema as s
from cloacinactl.store.cronslots import CronSlots
from cloacinactl.store.schedules import ScheduleSpec, replace_package_schedules

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SLOT = NOW + dt.timedelta(hours=1)
F = s.cron_fires.c


@contextmanager
def _store(url: str, schedules: int) -> Iterator[tuple[Store, list[str]]]:
    store = open_store(url)
    try:
        specs = [
            ScheduleSpec("cron", "wf", f"t{i}", cron_expression="0 * * * *")
            for i in range(schedules)
        ]
        ids = store.write(lambda c: replace_package_schedules(c, None, specs, NOW))
        yield store, list(ids.values())
    finally:
        store.close()


def _count_writes(store: Store, outcomes: list[str]) -> None:
    """Record each store.write transaction (and whether it raised) on this instance."""
    real = store.write

    def write(fn: Callable[[Connection], Any], **kwargs: Any) -> Any:
        try:
            value = real(fn, **kwargs)
        except Exception:
            outcomes.append("raised")
            raise
        outcomes.append("ok")
        return value

    store.write = write  # type: ignore[method-assign]


def _fires(store: Store) -> dict[str, str | None]:
    rows = store.read(lambda c: list(c.execute(select(F.schedule_id, F.execution_id))))
    return {r.schedule_id: r.execution_id for r in rows}


async def test_slots_due_together_share_transactions(db_url: str) -> None:
    with _store(db_url, 40) as (store, ids):
        slots = CronSlots(store)
        writes: list[str] = []
        _count_writes(store, writes)
        claimed: dict[str, bool] = {}

        async def fire(sid: str) -> None:
            claimed[sid] = await slots.claim_slot(sid, SLOT)
            await slots.attach_execution(sid, SLOT, sid[::-1])
            await slots.advance_cron_cursor(sid, SLOT)

        async with trio.open_nursery() as nursery:
            for sid in ids:
                nursery.start_soon(fire, sid)

        assert claimed == dict.fromkeys(ids, True)
        assert _fires(store) == {sid: sid[::-1] for sid in ids}
        for sid in ids:
            assert await slots.cron_cursor(sid) == SLOT
        # 120 writes by 40 callers: one transaction per round (claim, attach, advance)
        # when trio runs every caller in the same round; never anywhere near one each
        assert set(writes) == {"ok"} and 3 <= len(writes) <= 12, writes


async def test_duplicate_claims_of_one_slot_have_one_winner(db_url: str) -> None:
    with _store(db_url, 1) as (store, [sid]):
        one, two = CronSlots(store), CronSlots(store)
        won: list[bool] = []

        async def claim(slots: CronSlots) -> None:
            won.append(await slots.claim_slot(sid, SLOT))

        async with trio.open_nursery() as nursery:
            for i in range(12):  # same-batch duplicates and a second batcher
                nursery.start_soon(claim, one if i % 3 else two)

        assert sorted(won) == [False] * 11 + [True]
        assert list(_fires(store)) == [sid]


async def test_two_instances_claim_each_slot_once(db_url: str) -> None:
    # Two stores (separate connection pools, like two daemons on one database),
    # each batching claims of the same 30 slots at the same time.
    with _store(db_url, 30) as (first, ids), open_store(db_url) as second:
        instances = [CronSlots(first), CronSlots(second)]
        wins: dict[str, list[bool]] = {sid: [] for sid in ids}

        async def claim(slots: CronSlots, sid: str) -> None:
            wins[sid].append(await slots.claim_slot(sid, SLOT))

        async with trio.open_nursery() as nursery:
            for sid in ids:
                for slots in instances:
                    nursery.start_soon(claim, slots, sid)

        assert {sid: sorted(w) for sid, w in wins.items()} == {sid: [False, True] for sid in ids}
        assert set(_fires(first)) == set(ids)


async def test_a_bad_item_fails_only_its_caller(db_url: str) -> None:
    with _store(db_url, 5) as (store, ids):
        slots = CronSlots(store)
        writes: list[str] = []
        _count_writes(store, writes)
        results: dict[str, bool | Exception] = {}

        async def claim(sid: str) -> None:
            try:
                results[sid] = await slots.claim_slot(sid, SLOT)
            except Exception as exc:
                results[sid] = exc

        async with trio.open_nursery() as nursery:
            for sid in [*ids[:2], "no-such-schedule", *ids[2:]]:  # a foreign-key violation
                nursery.start_soon(claim, sid)

        assert isinstance(results.pop("no-such-schedule"), IntegrityError)
        assert results == dict.fromkeys(ids, True)
        assert set(_fires(store)) == set(ids)
        # one batch, which failed; then each item alone, only the bad one failing
        assert writes[0] == "raised"
        assert sorted(writes[1:]) == ["ok"] * 5 + ["raised"]


async def test_a_cancelled_waiter_is_dropped_and_the_rest_still_run(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _store(db_url, 3) as (store, [a, b, c]):
        slots = CronSlots(store)
        in_flight, release = trio.Event(), threading.Event()
        real = store.write

        def held_write(fn: Callable[[Connection], Any], **kwargs: Any) -> Any:
            if not release.is_set():  # hold the first batch until b and c have queued
                trio.from_thread.run_sync(in_flight.set)
                release.wait()
            return real(fn, **kwargs)

        monkeypatch.setattr(store, "write", held_write)
        won: list[str] = []

        async def claim(sid: str) -> None:
            assert await slots.claim_slot(sid, SLOT)
            won.append(sid)

        with trio.fail_after(60):  # a lost hand-off would hang, not fail
            async with trio.open_nursery() as nursery:
                nursery.start_soon(claim, a)
                await in_flight.wait()
                cancel_b = trio.CancelScope()

                async def claim_b() -> None:
                    with cancel_b:
                        await claim(b)

                nursery.start_soon(claim_b)
                nursery.start_soon(claim, c)
                await trio.testing.wait_all_tasks_blocked()
                cancel_b.cancel()
                await trio.testing.wait_all_tasks_blocked()
                release.set()

        assert sorted(won) == sorted([a, c])
        assert set(_fires(store)) == {a, c}

"""The executor's upkeep beside its writer: heartbeats, recovery of dead engines'
claims, SQLite checkpoints, and handing claims back on exit."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING, Any

import trio
from loguru import logger

from cloacinactl.engine import ops, recovery
from cloacinactl.engine.advance import CycleResult
from cloacinactl.store import claimants

if TYPE_CHECKING:
    from cloacinactl.engine.executor import Executor


async def heartbeat_loop(ex: Executor) -> None:
    """Refresh this engine's claims, and take over those of dead engines."""
    while True:
        # claims held: refresh them on time; idle: only keep the claimant row alive
        # and look for orphans of dead engines, at half the rate
        idle = not ex.inflight
        await trio.sleep(ex.config.heartbeat_interval_s * (2 if idle else 1))
        try:
            await ex.write(partial(claimants.heartbeat, claimant_id=ex.claimant_id, now=ex.clock()))
            await recover(ex)
        except Exception:
            logger.exception("heartbeat/recovery failed; will retry")


async def checkpoint_loop(ex: Executor) -> None:
    """SQLite: copy the WAL back into the database a while after writes."""
    while True:
        # nothing written, nothing to copy back: an idle engine does not wake for it
        await ex.committed()
        await trio.sleep(ex.config.checkpoint_interval_s)
        try:
            await trio.to_thread.run_sync(ex.store.checkpoint)
        except Exception:
            logger.exception("WAL checkpoint failed; will retry")


def apply(ex: Executor, conn: Any, outcomes: list[ops.Outcome], now: dt.datetime) -> CycleResult:
    """Record ``outcomes`` (recovery verdicts, releases) in ``conn``'s transaction."""
    result = CycleResult()
    ops.apply_outcomes(conn, ex.sql, outcomes, ex.defs, now, ex.settings, ex.rng, result)
    return result


async def recover(ex: Executor) -> None:
    """Reset or fail the tasks of claimants that stopped heartbeating."""
    now = ex.clock()
    stale = dt.timedelta(seconds=ex.config.stale_after_s)

    def work(conn: Any) -> tuple[int, dict[str, Any]]:
        verdicts, dead = recovery.orphaned_tasks(conn, ex.me, now, stale)
        finished = apply(ex, conn, verdicts, now).finished if verdicts else {}
        claimants.forget_claimants(conn, dead)
        return len(verdicts), finished

    recovered, finished = await ex.write(work)
    ex.tell_finished(finished)  # here in the event loop: listeners wake trio waiters
    if recovered:
        logger.info("recovered tasks of dead claimants")
        ex.kick()


async def release(ex: Executor) -> None:
    """On exit: hand unfinished claims back (reset) and record what finished."""
    now = ex.clock()
    me = ex.claimant_id
    outcomes = ex.queue.outcomes() + [
        ops.Outcome(c.task_pk, c.execution_id, c.task_name, c.attempt, "reset", claimant_id=me)
        for c in ex.held_claims()
    ]

    def work(conn: Any) -> None:
        if outcomes:
            apply(ex, conn, outcomes, now)
        claimants.unregister_claimant(conn, me)

    try:
        await ex.write(work)
    except Exception:
        logger.exception("could not release claims on shutdown; recovery will reset them")

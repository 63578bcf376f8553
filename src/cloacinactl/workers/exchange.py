"""One request on a worker's socket, bounded by the call's timeout (trio).

When the worker does not answer (timeout, caller cancelled, the pool stopping,
a protocol error, the worker gone) it cannot serve anyone else: the supervisor
is asked to replace it at once (``SupervisedChild.restart(grace_s=0)``, a
requested exit that never counts as a crash).
"""

from __future__ import annotations

import math
from typing import Any

import trio

from cloacinactl.supervisor import SupervisedChild, kill_group_now

from .connection import WorkerGone
from .protocol import ProtocolError
from .slots import Call, Slot


async def exchange(
    slot: Slot, call: Call, op: str, args: dict[str, Any], timeout: float | None
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(result, protocol failure, timed out); replaces the worker unless it answered."""
    assert slot.conn is not None
    conn = slot.conn
    result: dict[str, Any] | None = None
    failure: str | None = None
    try:
        with call.scope:
            deadline = math.inf if timeout is None else trio.current_time() + timeout
            with trio.move_on_at(deadline) as timeout_scope:
                try:
                    result = await conn.request(op, args)
                except WorkerGone:
                    pass
                except ProtocolError as exc:
                    failure = str(exc)
    finally:
        if result is None:
            # The worker is mid-call or broken: it cannot serve anyone else.
            replace_worker(slot.child, call)
    return result, failure, timeout_scope.cancelled_caught


def replace_worker(child: SupervisedChild | None, call: Call) -> None:
    """Kill the call's worker now and have the supervisor start the next one.

    When the supervisor refuses (the pool is stopping, or that generation has
    already exited), a worker still running the call is killed directly.
    """
    if child is not None and child.restart(generation=call.generation, grace_s=0):
        return
    if child is not None and child.generation == call.generation and child.pid == call.pid:
        kill_group_now(call.pid)

"""SupervisedChild and the process-group helpers, with real processes."""

from __future__ import annotations

import os
import signal
import socket
import sys

import psutil
import pytest
import trio
import trio.testing

from cloacinactl.supervisor import (
    BackoffPolicy,
    ChildSpec,
    ChildState,
    ExitEvent,
    PreparedStart,
    SupervisedChild,
    spawn_group,
    terminate_group,
)
from cloacinactl.supervisor.childspec import ChildFatal

PY = sys.executable

STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
g = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print(g.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_terminate_group_kills_stubborn_child_and_grandchild() -> None:
    proc = await spawn_group([PY, "-c", STUBBORN], stdout=-1)
    assert proc.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        line += await proc.stdout.receive_some(100)
    grandchild = int(line)
    assert os.getpgid(grandchild) == proc.pid
    rc = await terminate_group(proc, grace_s=0.3)
    assert rc == -signal.SIGKILL  # it ignored SIGTERM, so the grace ran out
    assert gone(proc.pid) and gone(grandchild)


async def test_restart_generations_and_fresh_fds_each_time() -> None:
    events: list[ExitEvent] = []
    parent_ends: dict[int, socket.socket] = {}

    def prepare(generation: int) -> PreparedStart:
        ours, theirs = socket.socketpair()
        parent_ends[generation] = ours
        return PreparedStart(
            pass_fds=[theirs.fileno()],
            env={"CHILD_FD": str(theirs.fileno()), "GEN": str(generation)},
            after_spawn=theirs.close,
        )

    code = (
        "import os, socket, time\n"
        "s = socket.socket(fileno=int(os.environ['CHILD_FD']))\n"
        "s.sendall(os.environ['GEN'].encode())\n"
        "time.sleep(600)\n"
    )
    hello: dict[int, bytes] = {}

    async def started(generation: int, process: trio.Process) -> None:
        # Readiness: the child said hello on this generation's own socket.
        hello[generation] = await trio.to_thread.run_sync(parent_ends[generation].recv, 10)

    spec = ChildSpec(name="w1", argv=[PY, "-c", code], grace_s=1.0)
    child = SupervisedChild(spec, prepare=prepare, started=started, exited=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        assert child.state is ChildState.RUNNING and child.generation == 1
        first_pid = child.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        await child.wait_generation(2)
        assert child.pid != first_pid
        assert events[0].generation == 1 and events[0].returncode == -signal.SIGKILL
        assert not events[0].requested
        # A signal aimed at the old generation is refused.
        assert not child.send_signal(signal.SIGTERM, generation=1)
        assert hello == {1: b"1", 2: b"2"}
        await child.stop()
        assert child.state is ChildState.STOPPED
        assert events[-1].generation == 2 and events[-1].requested
    for s in parent_ends.values():
        s.close()


async def test_fast_crashes_back_off_then_go_fatal() -> None:
    policy = BackoffPolicy(initial_s=0.05, factor=2.0, max_s=1.0, jitter=0.0, max_fast_crashes=3)
    spec = ChildSpec(name="crasher", argv=[PY, "-c", "import sys; sys.exit(3)"], backoff=policy)
    states: list[ChildState] = []
    events: list[ExitEvent] = []
    child = SupervisedChild(spec, exited=events.append)

    async def record() -> None:
        while True:
            await child._changed.wait()
            states.append(child.state)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(record)
        # No readiness hook: each generation is RUNNING as soon as it exists.
        await nursery.start(child.run)
        await child.wait_state(ChildState.FATAL)
        nursery.cancel_scope.cancel()
    assert [e.returncode for e in events] == [3, 3, 3, 3]
    assert [e.generation for e in events] == [1, 2, 3, 4]
    assert ChildState.BACKOFF in states
    assert child.state is ChildState.FATAL


async def test_cancelling_run_stops_the_child() -> None:
    spec = ChildSpec(name="sleeper", argv=[PY, "-c", "import time; time.sleep(600)"], grace_s=1)
    child = SupervisedChild(spec)
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        pid = child.pid
        assert pid is not None
        nursery.cancel_scope.cancel()
    assert gone(pid)
    assert child.state is ChildState.STOPPED


async def test_stop_before_run_returns_and_run_then_does_nothing() -> None:
    child = SupervisedChild(ChildSpec(name="never", argv=[PY, "-c", "pass"]))
    with trio.fail_after(5):
        await child.stop()
        await child.run()
    assert child.generation == 0 and child.state is ChildState.STOPPED


async def test_backoff_schedule_in_virtual_time(autojump_clock: trio.testing.MockClock) -> None:
    # Each generation exits at once; only the backoff sleeps move the (virtual) clock.
    policy = BackoffPolicy(
        initial_s=10, factor=2, max_s=100, jitter=0.0, fast_crash_s=1000, max_fast_crashes=4
    )
    spec = ChildSpec(name="crasher", argv=[PY, "-c", "raise SystemExit(1)"], backoff=policy)
    child = SupervisedChild(spec)
    started = trio.current_time()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(child.run)
            await child.wait_state(ChildState.FATAL)
            nursery.cancel_scope.cancel()
    except* ChildFatal:
        pass  # run() may end by raising it before wait_state() sees FATAL (a race under load)
    # Delays after crashes 1..4: 0 (immediate), 10, 20, 40; the 5th crash is FATAL.
    assert trio.current_time() - started == pytest.approx(70, abs=0.5)
    assert child.generation == 5 and child.restarts == 4

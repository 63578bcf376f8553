"""stop() and restart() at every point of a child's life, with real processes.

Each case used to be a race: stop() signalled ``self.process`` (possibly the
previous, dead generation) and a generation being spawned never looked at the
stop request, so the new generation kept running and ``stop()`` never returned.
"""

from __future__ import annotations

import os
import signal
import sys

import psutil
import pytest
import trio

from cloacinactl.supervisor import (
    BackoffPolicy,
    ChildFatal,
    ChildSpec,
    ChildState,
    ExitEvent,
    PreparedStart,
    SupervisedChild,
)

PY = sys.executable
SLEEPER = [PY, "-c", "import time; time.sleep(600)"]
# Lives 0.3 s, then exits on its own.
SHORT_LIVED = [PY, "-c", "import time; time.sleep(0.3)"]
# Generation 1 (GEN=1) lives 0.3 s; later generations run until stopped.
FIRST_SHORT = [
    PY,
    "-c",
    "import os, time; time.sleep(0.3 if os.environ.get('GEN') == '1' else 600)",
]
# Ignores SIGTERM: only SIGKILL after the grace period ends it.
STUBBORN = [
    PY,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
]


def gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Recorder:
    """Collects exit events and every PID the child spawned."""

    def __init__(self) -> None:
        self.events: list[ExitEvent] = []
        self.pids: list[int] = []

    async def started(self, generation: int, process: trio.Process) -> None:
        self.pids.append(process.pid)

    def all_gone(self) -> bool:
        return all(gone(pid) for pid in self.pids)


async def test_stop_while_the_next_generation_is_being_prepared() -> None:
    """The reported hang: gen 1 exits after 0.3 s, stop() is called from prepare(2)."""
    rec = Recorder()
    async with trio.open_nursery() as nursery:

        def prepare(generation: int) -> PreparedStart:
            if generation == 2:
                nursery.start_soon(child.stop)
            return PreparedStart(env={"GEN": str(generation)})

        spec = ChildSpec(name="racer", argv=FIRST_SHORT, grace_s=1.0)
        child = SupervisedChild(
            spec, prepare=prepare, started=rec.started, exited=rec.events.append
        )
        with trio.fail_after(10):
            await nursery.start(child.run)
            await child.wait_state(ChildState.STOPPED)
            await child.stop()  # returns at once now that it is done
    assert child.state is ChildState.STOPPED
    assert child.generation <= 2
    assert rec.all_gone()
    assert rec.events[0].generation == 1 and not rec.events[0].requested


async def test_stop_right_after_spawn_before_readiness() -> None:
    rec = Recorder()
    spawned = trio.Event()

    async def started(generation: int, process: trio.Process) -> None:
        await rec.started(generation, process)
        spawned.set()
        await trio.sleep_forever()  # never ready: stop must still win

    child = SupervisedChild(
        ChildSpec(name="slowstart", argv=SLEEPER, grace_s=1.0),
        started=started,
        exited=rec.events.append,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(child.run)
        with trio.fail_after(10):
            await spawned.wait()
            assert child.state is ChildState.STARTING
            await child.stop()
    assert child.state is ChildState.STOPPED
    assert rec.all_gone() and len(rec.pids) == 1
    assert [e.requested for e in rec.events] == [True]


async def test_stop_during_backoff_returns_at_once(autojump_clock: object) -> None:
    policy = BackoffPolicy(initial_s=1000, max_s=1000, jitter=0.0, max_fast_crashes=5)
    child = SupervisedChild(
        ChildSpec(name="crasher", argv=[PY, "-c", "raise SystemExit(3)"], backoff=policy)
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        await child.wait_state(ChildState.BACKOFF)
        before = trio.current_time()
        await child.stop()
        assert trio.current_time() - before < 1.0  # not the 1000 s backoff
    assert child.state is ChildState.STOPPED
    assert child.pid is None


async def test_stop_twice_and_concurrently() -> None:
    rec = Recorder()
    child = SupervisedChild(
        ChildSpec(name="stubborn", argv=STUBBORN, grace_s=0.3), started=rec.started
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        with trio.fail_after(10):
            async with trio.open_nursery() as stoppers:
                for _ in range(3):
                    stoppers.start_soon(child.stop)
            await child.stop()
    assert child.state is ChildState.STOPPED
    assert rec.all_gone() and len(rec.pids) == 1


async def test_stop_from_the_exit_hook_never_hangs() -> None:
    """stop() requested from the exit hook of a generation that exited on its own."""
    rec = Recorder()
    async with trio.open_nursery() as nursery:

        def exited(event: ExitEvent) -> None:
            rec.events.append(event)
            nursery.start_soon(child.stop)

        child = SupervisedChild(
            ChildSpec(name="once", argv=SHORT_LIVED, grace_s=1.0),
            started=rec.started,
            exited=exited,
        )
        with trio.fail_after(10):
            await nursery.start(child.run)
            await child.wait_state(ChildState.STOPPED)
    # trio may run the stop task before or after the next spawn: either way that
    # generation is ended at once and nothing is left running.
    assert child.generation <= 2 and rec.all_gone()
    assert child.state is ChildState.STOPPED


async def test_restart_kills_the_generation_and_starts_the_next_at_once() -> None:
    rec = Recorder()
    policy = BackoffPolicy(jitter=0.0, fast_crash_s=1000, max_fast_crashes=1)
    child = SupervisedChild(
        ChildSpec(name="w", argv=STUBBORN, grace_s=30.0, backoff=policy),
        started=rec.started,
        exited=rec.events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        with trio.fail_after(10):
            # Three quick restarts: each would be a "fast crash" (fast_crash_s is
            # huge, one is allowed) but requested ones are not counted.
            for n in range(1, 4):
                first = child.pid
                assert child.restart(generation=n, grace_s=0)
                await child.wait_generation(n + 1)
                assert gone(first) and child.pid != first
            assert not child.restart(generation=1)  # an old generation is refused
            await child.stop()
    assert [(e.generation, e.requested) for e in rec.events] == [
        (1, True),
        (2, True),
        (3, True),
        (4, True),
    ]
    assert rec.events[0].returncode == -signal.SIGKILL
    assert child.fast_crashes == 0 and child.restarts == 3
    assert child.state is ChildState.STOPPED and rec.all_gone()


async def test_restart_uses_sigterm_then_the_grace_period() -> None:
    rec = Recorder()
    child = SupervisedChild(
        ChildSpec(name="polite", argv=SLEEPER, grace_s=30.0),
        started=rec.started,
        exited=rec.events.append,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        with trio.fail_after(10):
            assert child.restart()
            await child.wait_generation(2)
            await child.stop()
    assert rec.events[0].returncode == -signal.SIGTERM and rec.events[0].requested


async def test_restart_during_backoff_starts_now(autojump_clock: object) -> None:
    policy = BackoffPolicy(initial_s=1000, max_s=1000, jitter=0.0, max_fast_crashes=5)
    marker = "import os, sys, time\nif os.environ.get('GEN') == '3': time.sleep(600)\nsys.exit(3)"
    child = SupervisedChild(
        ChildSpec(name="c", argv=[PY, "-c", marker], backoff=policy),
        prepare=lambda generation: PreparedStart(env={"GEN": str(generation)}),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(child.run)
        await child.wait_state(ChildState.BACKOFF)
        before = trio.current_time()
        assert child.restart()
        await child.wait_generation(3)
        assert trio.current_time() - before < 1.0
        await child.stop()
    assert child.state is ChildState.STOPPED


async def test_restart_when_not_running_is_refused() -> None:
    child = SupervisedChild(ChildSpec(name="idle", argv=SLEEPER))
    assert not child.restart()
    async with trio.open_nursery() as nursery:
        await nursery.start(child.run)
        pid = child.pid
        await child.stop()
        assert not child.restart()
    assert gone(pid) and os.getpid() != pid


async def test_forgiven_exits_are_not_fast_crashes() -> None:
    """An owner that knows an exit was its work's fault keeps the child out of FATAL."""
    policy = BackoffPolicy(initial_s=1000, max_s=1000, jitter=0.0, max_fast_crashes=1)
    code = "import os, sys, time\nif os.environ['GEN'] == '4': time.sleep(600)\nsys.exit(3)"
    events: list[ExitEvent] = []

    def exited(event: ExitEvent) -> None:
        events.append(event)
        child.forgive(event.generation)

    child = SupervisedChild(
        ChildSpec(name="f", argv=[PY, "-c", code], backoff=policy),
        prepare=lambda generation: PreparedStart(env={"GEN": str(generation)}),
        exited=exited,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(child.run)
        with trio.fail_after(10):  # no 1000 s backoff, no FATAL
            await child.wait_generation(4)
            await child.stop()
    assert [(e.returncode, e.requested) for e in events[:3]] == [(3, False)] * 3
    assert child.fast_crashes == 0 and child.restarts == 3


async def test_a_spawn_failure_reaches_the_exit_hook() -> None:
    events: list[ExitEvent] = []
    policy = BackoffPolicy(initial_s=0.01, max_s=0.01, jitter=0.0, max_fast_crashes=1)
    child = SupervisedChild(
        ChildSpec(name="nope", argv=["/nonexistent/program"], backoff=policy),
        exited=events.append,
    )
    with pytest.RaisesGroup(ChildFatal), trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child.run)  # never ready: run raises ChildFatal
            await trio.sleep_forever()
    assert [(e.generation, e.returncode) for e in events] == [(1, 127), (2, 127)]
    assert child.state is ChildState.FATAL

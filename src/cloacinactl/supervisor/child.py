"""A supervised child process: start, readiness, restart with backoff, stop.

One ``SupervisedChild`` owns one slot (e.g. "worker 3"); each (re)start is a
new *generation* numbered from 1. Its owner can supply fresh ``pass_fds``
before each start (``prepare``), is told of each new process (``started``,
which may also await readiness) and of each exit (``exited``, carrying the
generation so an old exit is never taken for the new process). The spec, the
hooks and the events they carry are plain data in ``childspec``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from typing import Any

import trio
from loguru import logger

from cloacinactl.supervisor.backoff import plan_restart
from cloacinactl.supervisor.childspec import (
    ChildFatal,
    ChildSpec,
    ExitedHook,
    ExitEvent,
    LogSink,
    PreparedStart,
    PrepareHook,
    StartedHook,
)
from cloacinactl.supervisor.logsetup import CHILD_LOG_ENV
from cloacinactl.supervisor.process import kill_group_now, spawn_group, terminate_group
from cloacinactl.supervisor.states import ChildState, can_move

# Output left in a dead generation's pipes is drained for at most this long.
_DRAIN_S = 2.0


class SupervisedChild:
    """Runs ``spec`` under supervision; start it with ``await nursery.start(child.run)``."""

    def __init__(
        self,
        spec: ChildSpec,
        *,
        prepare: PrepareHook | None = None,
        started: StartedHook | None = None,
        exited: ExitedHook | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.spec = spec
        self._prepare = prepare
        self._started = started
        self._exited = exited
        self._rng = rng
        self.state = ChildState.STOPPED
        self.generation = 0
        self.process: trio.Process | None = None
        self.restarts = 0
        self.fast_crashes = 0
        self.last_exit: ExitEvent | None = None
        self._changed = trio.Event()
        self._stop_requested = False
        # Set to end the current phase (a generation, or a backoff wait) early:
        # by stop(), or by restart(). A fresh one per phase; see _new_phase.
        self._interrupt = trio.Event()
        self._kill_grace_s: float | None = None  # grace of a pending restart
        self._restart_requested = False
        self._forgiven = 0  # a generation whose exit is not the child's fault
        self._done = trio.Event()
        self._ever_running = False
        self._active = False

    @property
    def pid(self) -> int | None:
        proc = self.process
        return proc.pid if proc is not None and proc.returncode is None else None

    def _set(self, state: ChildState) -> None:
        if state is not self.state and not can_move(self.state, state):
            # A bug in this class; loud in the log (the tests fail on it), never fatal.
            logger.warning(
                "illegal state move name={} from={} to={}",
                self.spec.name,
                self.state.value,
                state.value,
            )
        self.state = state
        self._changed.set()
        self._changed = trio.Event()

    async def wait_state(self, *states: ChildState) -> ChildState:
        """Wait until the child is in one of ``states``."""
        while self.state not in states:
            await self._changed.wait()
        return self.state

    async def wait_generation(self, generation: int) -> None:
        """Wait until generation ``generation`` (or a later one) is RUNNING."""
        while not (self.generation >= generation and self.state is ChildState.RUNNING):
            if self.state in (ChildState.FATAL, ChildState.STOPPED) and self._done.is_set():
                raise ChildFatal(f"{self.spec.name} is {self.state.value}")
            await self._changed.wait()

    def send_signal(self, sig: int, generation: int | None = None) -> bool:
        """Signal the current process (only if it is still ``generation`` when given)."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return False
        if generation is not None and generation != self.generation:
            return False
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    async def stop(self) -> None:
        """Stop for good: SIGTERM the group, SIGKILL after the grace period; wait.

        Safe at any point: before ``run``, while a generation is being prepared
        or spawned, while STARTING, during BACKOFF, twice, or from several tasks
        at once. Returns once the last generation's group is gone.
        """
        self._stop_requested = True
        self._interrupt.set()
        if not self._active:
            return
        await self._done.wait()

    def restart(self, *, generation: int | None = None, grace_s: float | None = None) -> bool:
        """End the current generation on purpose and start the next one at once.

        The group gets SIGTERM and SIGKILL after ``grace_s`` (default: the
        spec's; 0 kills at once). Its ``ExitEvent`` has ``requested=True`` and
        the exit never counts as a fast crash; the next generation starts
        without backoff. During BACKOFF it cuts the wait short. Returns False
        (and does nothing) when the child is not running, is stopping, or
        ``generation`` is given and is no longer the current one. Does not
        wait: ``await child.wait_generation(n + 1)`` for the new generation.
        """
        if not self._active or self._stop_requested or self._restart_requested:
            return False
        if generation is not None and generation != self.generation:
            return False
        if self.state not in (ChildState.STARTING, ChildState.RUNNING, ChildState.BACKOFF):
            return False
        self._restart_requested = True
        self._kill_grace_s = self.spec.grace_s if grace_s is None else max(0.0, grace_s)
        self._interrupt.set()
        return True

    def forgive(self, generation: int) -> None:
        """Do not count ``generation``'s exit as a fast crash; restart it at once.

        For owners that know the exit was caused by the work they gave it (a
        task that called ``os._exit`` or segfaulted), not by the child itself.
        Call it before or from the ``exited`` hook of that generation.
        """
        self._forgiven = max(self._forgiven, generation)

    def _new_phase(self) -> trio.Event:
        """A fresh interrupt event for the next phase, already set if a stop is pending."""
        self._interrupt = trio.Event()
        self._restart_requested = False
        self._kill_grace_s = None
        if self._stop_requested:
            self._interrupt.set()
        return self._interrupt

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise until stopped, cancelled or FATAL. Ready once generation 1 runs.

        A ``stop()`` before generation 1 was ever ready makes ``run`` report
        started and return (state STOPPED), so ``nursery.start`` does not fail.
        """
        self._active = True
        try:
            while not self._stop_requested:
                event = await self._one_generation(None if self._ever_running else task_status)
                if self._stop_requested or event is None:
                    break
                if event.requested or event.generation == self._forgiven:
                    # restart(), or forgive(): no backoff, not a crash.
                    self.restarts += 1
                    continue
                if not self.spec.autorestart:
                    break
                plan = plan_restart(
                    self.spec.backoff, self.fast_crashes, event.run_seconds, self._rng()
                )
                self.fast_crashes = plan.fast_crashes
                if plan.fatal:
                    self._set(ChildState.FATAL)
                    logger.error(
                        "child gave up name={} fast_crashes={}", self.spec.name, plan.fast_crashes
                    )
                    if not self._ever_running:
                        raise ChildFatal(f"{self.spec.name} crashed {plan.fast_crashes} times")
                    return
                if plan.delay_s > 0:
                    interrupt = self._new_phase()
                    self._set(ChildState.BACKOFF)
                    logger.info(
                        "child backoff name={} delay_s={:.3f}", self.spec.name, plan.delay_s
                    )
                    with trio.move_on_after(plan.delay_s):
                        await interrupt.wait()
                self.restarts += 1
        finally:
            proc = self.process
            if proc is not None and proc.returncode is None:
                self._set(ChildState.STOPPING)
                await terminate_group(proc, self.spec.grace_s)
            if self._stop_requested or self.state not in (ChildState.FATAL, ChildState.EXITED):
                self._set(ChildState.STOPPED)
            self._active = False
            self._done.set()
            self._changed.set()
        if self._stop_requested and not self._ever_running:
            task_status.started()

    async def _one_generation(self, task_status: trio.TaskStatus[None] | None) -> ExitEvent | None:
        """Start one generation and wait for its exit; None when the start was stopped."""
        # Let a stop() requested by a hook (e.g. the previous exit's) land first.
        await trio.lowlevel.checkpoint()
        interrupt = self._new_phase()
        if self._stop_requested:
            return None
        self.generation += 1
        generation = self.generation
        self._set(ChildState.STARTING)
        prepared = self._prepare(generation) if self._prepare is not None else PreparedStart()
        env = dict(self.spec.env) if self.spec.env is not None else dict(os.environ)
        env.update(prepared.env or {})
        pipes = _Pipes(self.spec, generation, prepared)
        started_at = trio.current_time()
        try:
            proc = await spawn_group(
                self.spec.argv,
                env={**env, **pipes.env},
                cwd=self.spec.cwd,
                pass_fds=[*prepared.pass_fds, *pipes.pass_fds],
                stdin=self.spec.stdin,
                stdout=pipes.stdout,
                stderr=pipes.stderr,
            )
        except OSError as exc:
            logger.error("child spawn failed name={} error={}", self.spec.name, exc)
            pipes.close_all()
            self._set(ChildState.EXITED)
            failed = ExitEvent(self.spec.name, generation, 0, 127, 0.0, False)
            self.last_exit = failed
            if self._exited is not None:  # the owner frees what it prepared
                self._exited(failed)
            return failed
        finally:
            pipes.close_child_ends()
            if prepared.after_spawn is not None:
                prepared.after_spawn()
        self.process = proc
        logger.debug(
            "child started name={} generation={} pid={}", self.spec.name, generation, proc.pid
        )
        async with trio.open_nursery() as relays:
            pipes.start_relays(relays)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._become_ready, generation, proc, task_status)
                # A stop()/restart() that came while this generation was being
                # prepared or spawned has set ``interrupt`` already: it ends now.
                nursery.start_soon(self._end_on_request, interrupt, proc)
                returncode = await proc.wait()
                nursery.cancel_scope.cancel()
            kill_group_now(proc.pid)
            relays.cancel_scope.deadline = trio.current_time() + _DRAIN_S
        run_seconds = trio.current_time() - started_at
        requested = interrupt.is_set()
        if requested and self.state is not ChildState.STOPPING:
            # It exited on its own just as stop()/restart() asked: still a requested end.
            self._set(ChildState.STOPPING)
        event = ExitEvent(self.spec.name, generation, proc.pid, returncode, run_seconds, requested)
        self.last_exit = event
        if not requested:
            self._set(ChildState.EXITED)
            level = "INFO" if returncode == 0 else "WARNING"
            logger.log(
                level,
                "child exited name={} generation={} pid={} returncode={} run_s={:.3f}",
                self.spec.name,
                generation,
                proc.pid,
                returncode,
                run_seconds,
            )
        if self._exited is not None:
            self._exited(event)
        return event

    async def _become_ready(
        self, generation: int, proc: trio.Process, task_status: trio.TaskStatus[None] | None
    ) -> None:
        if self._started is not None:
            try:
                await self._started(generation, proc)
            except Exception as exc:  # a failed readiness check kills this generation
                logger.warning("child not ready name={} error={}", self.spec.name, exc)
                kill_group_now(proc.pid)
                return
        if (
            proc.returncode is None
            and self.generation == generation
            and self.state is ChildState.STARTING
        ):
            self._ever_running = True
            self._set(ChildState.RUNNING)
            if task_status is not None:
                task_status.started()

    async def _end_on_request(self, interrupt: trio.Event, proc: trio.Process) -> None:
        """Terminate this generation's group once stop() or restart() asks for it."""
        await interrupt.wait()
        grace_s = self.spec.grace_s if self._kill_grace_s is None else self._kill_grace_s
        what = "stopping" if self._stop_requested else "restarting"
        logger.debug("child {} name={} pid={}", what, self.spec.name, proc.pid)
        self._set(ChildState.STOPPING)
        await terminate_group(proc, grace_s)


class _Pipes:
    """The log pipes of one generation (only when the spec has a ``log_sink``)."""

    def __init__(self, spec: ChildSpec, generation: int, prepared: PreparedStart) -> None:
        self.sink = spec.log_sink
        self.labels = {"child": spec.name, "generation": generation}
        self.env: dict[str, str] = {}
        self.pass_fds: list[int] = []
        self.stdout = spec.stdout
        self.stderr = spec.stderr
        self._child_ends: list[int] = []
        self._ours: list[tuple[int, str]] = []
        if self.sink is None:
            return
        read, write = os.pipe()
        self._ours.append((read, "record"))
        self._child_ends.append(write)
        self.env[CHILD_LOG_ENV] = str(write)
        self.pass_fds.append(write)
        if spec.capture_output:
            for stream in ("stdout", "stderr"):
                read, write = os.pipe()
                self._ours.append((read, stream))
                self._child_ends.append(write)
                setattr(self, stream, write)

    def close_child_ends(self) -> None:
        for fd in self._child_ends:
            os.close(fd)
        self._child_ends.clear()

    def close_all(self) -> None:
        self.close_child_ends()
        for fd, _ in self._ours:
            os.close(fd)
        self._ours.clear()

    def start_relays(self, nursery: trio.Nursery) -> None:
        sink = self.sink
        if sink is None:
            return
        for fd, stream in self._ours:
            nursery.start_soon(
                _relay, trio.lowlevel.FdStream(fd), sink, {**self.labels, "stream": stream}
            )
        self._ours.clear()


async def _relay(stream: trio.lowlevel.FdStream, sink: LogSink, labels: Mapping[str, Any]) -> None:
    """Forward complete lines from ``stream`` to ``sink`` until EOF."""
    async with stream:
        pending = b""
        while True:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            pending += chunk
            if b"\n" not in chunk:
                continue
            *lines, pending = pending.split(b"\n")
            sink(lines, labels)
        if pending:
            sink([pending], labels)

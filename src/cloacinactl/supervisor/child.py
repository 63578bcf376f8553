"""A supervised child process: start, readiness, restart with backoff, stop.

One ``SupervisedChild`` owns one slot (e.g. "worker 3"); each (re)start is a
new *generation* numbered from 1. Its owner can supply fresh ``pass_fds``
before each start (``prepare``), is told of each new process (``started``,
which may also await readiness) and of each exit (``exited``, carrying the
generation so an old exit is never taken for the new process).
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from loguru import logger

from cloacinactl.supervisor.backoff import BackoffPolicy, plan_restart
from cloacinactl.supervisor.logsetup import CHILD_LOG_ENV
from cloacinactl.supervisor.process import kill_group_now, spawn_group, terminate_group
from cloacinactl.supervisor.states import ChildState

# Receives a batch of complete lines (without newlines) and the labels of their pipe.
LogSink = Callable[[Sequence[bytes], Mapping[str, Any]], None]
# Output left in a dead generation's pipes is drained for at most this long.
_DRAIN_S = 2.0


@dataclass(frozen=True)
class ChildSpec:
    """What to run and how to treat it."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    grace_s: float = 5.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    autorestart: bool = True
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    # When set, each generation gets a record pipe (fd in CLOACINA_LOG_FD) whose
    # JSON lines go to log_sink; with capture_output, stdout/stderr lines too.
    log_sink: LogSink | None = None
    capture_output: bool = False


@dataclass
class PreparedStart:
    """Returned by the ``prepare`` hook: what this generation receives.

    ``pass_fds`` are inherited by the child; ``env`` is merged over the spec's;
    ``after_spawn`` runs in the parent once the process exists (or failed to
    spawn), typically to close the parent's copy of the child's socket end.
    """

    pass_fds: Sequence[int] = ()
    env: Mapping[str, str] | None = None
    after_spawn: Callable[[], None] | None = None


@dataclass(frozen=True)
class ExitEvent:
    """A generation ended. ``returncode`` < 0 means killed by that signal."""

    name: str
    generation: int
    pid: int
    returncode: int
    run_seconds: float
    requested: bool  # True when the exit followed our own stop


PrepareHook = Callable[[int], PreparedStart]
StartedHook = Callable[[int, trio.Process], Awaitable[None]]
ExitedHook = Callable[[ExitEvent], None]


class ChildFatal(Exception):
    """The child gave up (FATAL) before it was ever ready."""


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
        self._wake = trio.Event()
        self._done = trio.Event()
        self._ever_running = False
        self._active = False

    @property
    def pid(self) -> int | None:
        proc = self.process
        return proc.pid if proc is not None and proc.returncode is None else None

    def _set(self, state: ChildState) -> None:
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
        """Stop for good: SIGTERM the group, SIGKILL after the grace period; wait."""
        self._stop_requested = True
        self._wake.set()
        if not self._active:
            return
        proc = self.process
        if proc is not None and proc.returncode is None:
            self._set(ChildState.STOPPING)
            await terminate_group(proc, self.spec.grace_s)
        await self._done.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise until stopped, cancelled or FATAL. Ready once generation 1 runs."""
        self._active = True
        try:
            while not self._stop_requested:
                event = await self._one_generation(None if self._ever_running else task_status)
                if self._stop_requested or event is None or not self.spec.autorestart:
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
                    self._set(ChildState.BACKOFF)
                    logger.info(
                        "child backoff name={} delay_s={:.3f}", self.spec.name, plan.delay_s
                    )
                    self._wake = trio.Event()
                    with trio.move_on_after(plan.delay_s):
                        await self._wake.wait()
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

    async def _one_generation(self, task_status: trio.TaskStatus[None] | None) -> ExitEvent | None:
        """Start one generation and wait for its exit; None when the start was stopped."""
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
            return ExitEvent(self.spec.name, generation, 0, 127, 0.0, False)
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
                returncode = await proc.wait()
                nursery.cancel_scope.cancel()
            kill_group_now(proc.pid)
            relays.cancel_scope.deadline = trio.current_time() + _DRAIN_S
        run_seconds = trio.current_time() - started_at
        requested = self._stop_requested
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
        if proc.returncode is None and self.generation == generation:
            self._ever_running = True
            self._set(ChildState.RUNNING)
            if task_status is not None:
                task_status.started()


def exit_description(returncode: int) -> str:
    """``exit 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"


def jitter_free(policy: BackoffPolicy) -> BackoffPolicy:
    """The same policy without jitter (deterministic schedules in tests and benchmarks)."""
    return BackoffPolicy(
        initial_s=policy.initial_s,
        factor=policy.factor,
        max_s=policy.max_s,
        jitter=0.0,
        fast_crash_s=policy.fast_crash_s,
        max_fast_crashes=policy.max_fast_crashes,
    )


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

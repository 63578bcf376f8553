"""The worker pool's engine (trio): N supervised worker processes, fair dispatch.

Each worker is a ``cloacinactl.supervisor.SupervisedChild``. Before every
(re)start the pool makes a fresh socketpair and passes one end to the child
(``CLOACINA_WORKER_FD``); a generation counts as ready once it answered
``ping``. A call takes an idle worker (FIFO for queued callers, affinity to a
worker that already imported the source when several are idle), sends one
request and waits for the answer, the call's timeout, or the worker's exit:

- timeout: ``SupervisedChild.restart(grace_s=0)`` kills the worker's whole
  process group and starts a replacement at once (a requested exit, not a
  crash); the call fails with kind ``timeout``;
- exit/crash: the call fails with kind ``crashed`` naming the exit code or
  signal; output the task wrote before dying is still returned. The exit is
  ``forgive``n (the task's fault, not the worker's): no backoff, no fast-crash
  count, so tasks that crash on purpose never push a worker into FATAL;
- caller cancelled: the worker is restarted the same way (it would still be
  running the call); ``Cancelled`` propagates;
- memory (``memory_limit_mb``, see ``memguard.py``): a worker over the limit
  during a call is killed like a timed-out one (kind ``memory_limit``, the exit
  forgiven); one over it between calls is recycled, failing nothing.

A worker that crash-loops on its own (exits before answering ``ping``, again
and again) goes FATAL under the supervisor's backoff policy: at start-up
``serve`` raises ``WorkerStartError``; later the slot stays down, and when
every slot is down ``serve`` raises ``WorkerStartError`` too. ``stop`` stops
each worker with ``SupervisedChild.stop`` (SIGTERM, SIGKILL after ``grace_s``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from cloacinactl.errors import CloacinaError
from cloacinactl.supervisor import (
    BackoffPolicy,
    ChildFatal,
    ChildSpec,
    ChildState,
    ExitEvent,
    PreparedStart,
    SupervisedChild,
)

from .capture import read_capture, remove_capture
from .connection import Connection
from .exchange import exchange
from .memguard import MemoryGuard
from .outcome import TaskError, call_failure
from .protocol import DEFAULT_OUTPUT_LIMIT, FD_ENV, ProtocolError
from .results import RawReply
from .slots import Call, Dispatcher, Slot, slot_stats


class PoolClosed(CloacinaError):
    """The pool is stopped (or every worker gave up); no call can run."""


class WorkerStartError(CloacinaError):
    """A worker never became ready (it kept exiting before answering ``ping``),
    or every worker gave up (FATAL)."""


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


class PoolCore:
    """Worker processes and raw calls; ``WorkerPool`` adds the typed operations."""

    def __init__(
        self,
        size: int | None = None,
        *,
        service: str = "cloacina",
        python: str | None = None,
        grace_s: float = 5.0,
        start_timeout_s: float = 30.0,
        backoff: BackoffPolicy | None = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        env: dict[str, str] | None = None,
        max_calls_per_worker: int | None = None,
        capture_root: Path | None = None,
        memory_limit_mb: int | None = None,
    ) -> None:
        self.size = size if size is not None else (os.cpu_count() or 1)
        if self.size < 1:
            raise CloacinaError(f"worker pool size must be at least 1, got {self.size}")
        if memory_limit_mb is not None and memory_limit_mb < 1:
            raise CloacinaError(
                f"worker memory limit must be at least 1 MiB, got {memory_limit_mb}"
            )
        self.service = service
        self.python = python or sys.executable
        self.grace_s = grace_s
        self.start_timeout_s = start_timeout_s
        self.backoff = backoff if backoff is not None else BackoffPolicy()
        self.output_limit = output_limit
        self.env = env
        self.max_calls_per_worker = max_calls_per_worker
        self.capture_root = capture_root
        self.memory_limit_mb = memory_limit_mb
        self._memory = None if memory_limit_mb is None else MemoryGuard(memory_limit_mb)
        self._slots = [Slot(index=i + 1) for i in range(self.size)]
        self._dispatch = Dispatcher(self._slots)
        self._capture_dir: Path | None = None
        self._closed = False
        self._stop = trio.Event()
        self._stopped = trio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every worker; ready once all answered ``ping``; run until stopped."""
        root = self.capture_root
        self._capture_dir = Path(tempfile.mkdtemp(prefix="cloacina-workers-", dir=root))
        try:
            await self._serve(task_status)
        except BaseExceptionGroup as group:
            # A worker that cannot start is the whole story: raise it plainly.
            start_errors, rest = group.split(WorkerStartError)
            if start_errors is None or rest is not None:
                raise
            raise _first_leaf(start_errors) from None
        finally:
            self._close("the worker pool stopped")
            shutil.rmtree(self._capture_dir, ignore_errors=True)
            self._stopped.set()

    async def _serve(self, task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as nursery:
            async with trio.open_nursery() as starters:
                for slot in self._slots:
                    starters.start_soon(nursery.start, self._run_slot, slot)
            if self._memory is not None:
                nursery.start_soon(self._memory.watch, self, self._stop)
            logger.info(
                "worker pool ready size={} service={} memory_limit_mb={}",
                self.size,
                self.service,
                self.memory_limit_mb,
            )
            task_status.started()
            await self._stop.wait()
            with trio.move_on_after(self.grace_s):
                while any(slot.busy for slot in self._slots):
                    await trio.sleep(0.01)
            self._close("the worker pool stopped")
            # Each stop() terminates its worker's group (SIGTERM, SIGKILL after
            # grace_s) whatever the worker is doing (even mid-restart); the
            # _run_slot tasks then return and the nursery closes.
            async with trio.open_nursery() as stoppers:
                for slot in self._slots:
                    if slot.child is not None:
                        stoppers.start_soon(slot.child.stop)

    async def stop(self) -> None:
        """Stop taking calls, let running ones finish for ``grace_s``, stop every worker."""
        self._stop.set()
        if self._capture_dir is None:  # serve never started
            self._close("the worker pool stopped")
            return
        await self._stopped.wait()

    def stats(self) -> dict[str, Any]:
        """Workers, ready, busy, queued callers, restarts, the memory limit and
        per-worker states."""
        return {
            **slot_stats(self._slots, self._dispatch.queued),
            "memory_limit_mb": self.memory_limit_mb,
        }

    def _close(self, reason: str) -> None:
        self._closed = True
        for slot in self._slots:
            call = slot.call
            if call is not None:
                call.stopped = True
                call.exited.set()
                call.scope.cancel()
        self._dispatch.fail_waiters(PoolClosed(reason))

    def _spec(self, slot: Slot) -> ChildSpec:
        assert self._capture_dir is not None
        argv = [
            self.python,
            "-m",
            "cloacinactl.workers.child",
            "--index",
            str(slot.index),
            "--title",
            self.service,
            "--capture-dir",
            str(self._capture_dir),
            "--output-limit",
            str(self.output_limit),
        ]
        return ChildSpec(
            name=f"worker {slot.index}",
            argv=argv,
            env=self.env,
            grace_s=self.grace_s,
            backoff=self.backoff,
            stdin=subprocess.DEVNULL,
        )

    async def _run_slot(
        self, slot: Slot, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        child = SupervisedChild(
            self._spec(slot),
            prepare=lambda generation: self._prepare(slot, generation),
            started=lambda generation, proc: self._started(slot, generation, proc),
            exited=lambda event: self._exited(slot, event),
        )
        slot.child = child
        try:
            await child.run(task_status=task_status)
        except ChildFatal as exc:
            raise WorkerStartError(
                f"worker {slot.index} could not start: {exc}",
                hint=f"check that '{self.python} -m cloacinactl.workers.child' "
                "runs in this environment",
            ) from exc
        if self._closed or child.state is not ChildState.FATAL:
            return
        down = [
            s.index
            for s in self._slots
            if s.child is not None and s.child.state is ChildState.FATAL
        ]
        logger.error("worker gave up index={} workers_down={}/{}", slot.index, len(down), self.size)
        if len(down) == self.size:
            self._close("every worker gave up")
            raise WorkerStartError(
                f"every worker gave up (worker {slot.index} crashed "
                f"{child.fast_crashes} times in a row)",
                hint="see the log for the workers' exits",
            )

    # ------------------------------------------------------------------ supervisor hooks

    def _prepare(self, slot: Slot, generation: int) -> PreparedStart:
        parent, child = socket.socketpair()
        slot.pending[generation] = Connection(parent)
        return PreparedStart(
            pass_fds=(child.fileno(),),
            env={FD_ENV: str(child.fileno())},
            after_spawn=child.close,
        )

    async def _started(self, slot: Slot, generation: int, process: trio.Process) -> None:
        conn = slot.pending.pop(generation)
        try:
            with trio.fail_after(self.start_timeout_s):
                reply = await conn.request("ping", {})
        except BaseException:
            conn.close()
            raise
        if reply.get("pid") != process.pid:
            conn.close()
            raise ProtocolError(f"worker answered ping with pid {reply.get('pid')!r}")
        slot.conn = conn
        slot.generation = generation
        slot.pid = process.pid
        slot.sources = set()
        slot.calls = 0
        slot.ready = True
        logger.debug(
            "worker ready index={} pid={} generation={}", slot.index, process.pid, generation
        )
        if not slot.busy:
            self._dispatch.make_available(slot)

    def _exited(self, slot: Slot, event: ExitEvent) -> None:
        leftover = slot.pending.pop(event.generation, None)
        if leftover is not None:
            leftover.close()
        if event.generation != slot.generation:
            return
        slot.ready = False
        slot.sources = set()
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None
        call = slot.call
        if call is not None and call.generation == event.generation:
            if slot.child is not None:
                slot.child.forgive(event.generation)  # the task's fault, not the worker's
            call.exit = event
            call.exited.set()
            call.scope.cancel()
        elif self._capture_dir is not None:
            remove_capture(self._capture_dir, event.pid)

    # ------------------------------------------------------------------ dispatch

    def _release(self, slot: Slot) -> None:
        slot.busy = False
        if not slot.ready:
            return
        if self.max_calls_per_worker is not None and slot.calls >= self.max_calls_per_worker:
            self._recycle(slot, f"{slot.calls} calls", level="DEBUG")
            return
        if self._memory is not None and self._memory.after_call(self, slot):
            return
        self._dispatch.make_available(slot)

    def _recycle(self, slot: Slot, why: str, level: str = "INFO") -> None:
        """Replace an idle worker: closing its socket makes it exit; the supervisor
        starts a fresh one at once (forgiven: a recycle is no crash)."""
        logger.log(level, "recycling worker index={} pid={} reason={}", slot.index, slot.pid, why)
        slot.ready = False
        if slot.child is not None:
            slot.child.forgive(slot.generation)
        if slot.conn is not None:
            slot.conn.close()
            slot.conn = None

    async def call(
        self, op: str, args: dict[str, Any], *, source_id: str | None, timeout: float | None
    ) -> RawReply:
        """Run one request on a worker (low level; ``WorkerPool`` has the typed calls)."""
        if self._closed:
            raise PoolClosed("the worker pool is stopped")
        slot = await self._dispatch.acquire(source_id)
        try:
            reply = await self._call_on(slot, op, args, timeout)
        finally:
            self._release(slot)
        if reply.result is not None and source_id is not None:
            error = reply.result.get("error") or {}
            if error.get("kind") != "load_failed":
                slot.sources.add(source_id)
        return reply

    async def _call_on(
        self, slot: Slot, op: str, args: dict[str, Any], timeout: float | None
    ) -> RawReply:
        assert slot.conn is not None and slot.pid is not None
        call = Call(generation=slot.generation, pid=slot.pid)
        slot.call = call
        try:
            result, failure, timed_out = await exchange(slot, call, op, args, timeout)
            if result is not None:
                slot.calls += 1
                return RawReply(result, None, result, slot.index, call.pid)
            error, captured = await self._lost(
                slot, call, op, timeout=timeout if timed_out else None, failure=failure
            )
        finally:
            slot.call = None
        return RawReply(None, error, captured, slot.index, call.pid)

    async def _lost(
        self, slot: Slot, call: Call, op: str, *, timeout: float | None, failure: str | None
    ) -> tuple[TaskError, dict[str, Any]]:
        """Why ``call`` got no answer, and the output it left. Waits for the worker's
        exit, so ``slot.call`` must still be ``call`` (the exit hook records it there)."""
        with trio.move_on_after(self.grace_s + 5.0):
            await call.exited.wait()
        captured = await self._read_capture(call.pid)
        event = call.exit
        error = call_failure(
            op,
            f"worker {slot.index} (pid {call.pid})",
            returncode=None if event is None else event.returncode,
            timeout=timeout,
            protocol_failure=failure,
            stopped=call.stopped,
            memory=call.memory,
        )
        return error, captured

    async def _read_capture(self, pid: int) -> dict[str, Any]:
        directory = self._capture_dir
        if directory is None:
            return {}
        captured = await trio.to_thread.run_sync(read_capture, directory, pid, self.output_limit)
        remove_capture(directory, pid)
        return captured.to_dict()

"""The package watcher: filesystem events (watchfiles) with a trailing-edge
debounce, plus the ``--poll-interval`` periodic fallback.

It never reconciles itself: it sends "reconcile now" requests into a trio
channel of size one, so a burst of requests coalesces into one pending pass.
The debounce is trailing-edge: a request goes out only after
``debounce_s`` of quiet following the *last* relevant event, so an archive that
is being copied is read once the copy has finished. The watch set can change
live (``set_dirs``, for SIGHUP): the watch restarts on the new folders and a
reconcile is requested at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import trio
from loguru import logger

from cloacinactl.services.reconcile.scan import is_archive_name

_REGISTER_MARGIN_S = 0.1

REQUEST_FS = "fs"
REQUEST_POLL = "poll"
REQUEST_WATCH_SET = "watch-set"


def request(channel: trio.MemorySendChannel[str], reason: str) -> bool:
    """Ask for a pass; False if one is already pending (the request coalesces)."""
    try:
        channel.send_nowait(reason)
    except trio.WouldBlock:
        return False
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        return False
    return True


def relevant(changes: Iterable[tuple[object, str]]) -> bool:
    """Whether a batch of watchfiles changes touches a package archive."""
    return any(is_archive_name(Path(path).name) for _, path in changes)


class PackageWatcher:
    """Turns filesystem activity in the watch folders into reconcile requests."""

    def __init__(
        self,
        dirs: Sequence[Path],
        requests: trio.MemorySendChannel[str],
        *,
        debounce_s: float = 0.5,
        poll_interval_s: float = 0.5,
    ) -> None:
        self._dirs = tuple(dirs)
        self._requests = requests
        self.debounce_s = debounce_s
        self.poll_interval_s = poll_interval_s
        self._restart = trio.Event()
        self._last_event: float | None = None
        self._event_seen = trio.Event()
        self.watching: tuple[Path, ...] = ()  # folders the OS watch currently covers

    @property
    def dirs(self) -> tuple[Path, ...]:
        return self._dirs

    def set_dirs(self, dirs: Sequence[Path]) -> None:
        """Change the watch set live and ask for a pass at once."""
        self._dirs = tuple(dirs)
        self._restart.set()
        request(self._requests, REQUEST_WATCH_SET)

    def notice(self) -> None:
        """Record a relevant event (restarts the quiet period)."""
        self._last_event = trio.current_time()
        self._event_seen.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._debounce_loop)
            nursery.start_soon(self._poll_loop)
            await nursery.start(self._watch_loop)
            task_status.started()

    async def _debounce_loop(self) -> None:
        while True:
            await self._event_seen.wait()
            self._event_seen = trio.Event()
            while True:
                assert self._last_event is not None
                quiet_until = self._last_event + self.debounce_s
                if trio.current_time() >= quiet_until:
                    break
                await trio.sleep_until(quiet_until)
            request(self._requests, REQUEST_FS)

    async def _poll_loop(self) -> None:
        if not math.isfinite(self.poll_interval_s) or self.poll_interval_s <= 0:
            return
        while True:
            await trio.sleep(self.poll_interval_s)
            request(self._requests, REQUEST_POLL)
            # A watch folder created after start (or deleted) changes what the OS
            # watch can cover: restart it on the folders that exist now.
            if _existing(self._dirs) != self.watching:
                self._restart.set()

    async def _watch_loop(self, *, task_status: trio.TaskStatus[None]) -> None:
        started = False
        while True:
            self._restart = trio.Event()
            paths = _existing(self._dirs)
            self.watching = paths
            if not paths:
                if not started:
                    task_status.started()
                    started = True
                await self._restart.wait()
                continue
            async with trio.open_nursery() as nursery:
                ready = trio.Event()
                nursery.start_soon(self._watch_paths, paths, ready)
                await ready.wait()
                if not started:
                    task_status.started()
                    started = True
                else:
                    # Events between the old watch stopping and this one registering
                    # were not seen: one pass now covers whatever changed meanwhile.
                    request(self._requests, REQUEST_WATCH_SET)
                await self._restart.wait()
                nursery.cancel_scope.cancel()

    async def _watch_paths(self, paths: tuple[Path, ...], ready: trio.Event) -> None:
        from watchfiles import awatch

        stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery:

                async def stop_on_cancel() -> None:
                    # watchfiles waits in a thread that only checks ``stop`` (every
                    # ``step`` ms): set it on cancellation, or that thread would hold
                    # shutdown up for ``rust_timeout``.
                    try:
                        # watchfiles registers its OS watches synchronously when the
                        # iteration starts and has no readiness hook; this margin
                        # covers that before we report ready.
                        await trio.sleep(_REGISTER_MARGIN_S)
                        ready.set()
                        await trio.sleep_forever()
                    finally:
                        stop.set()

                nursery.start_soon(stop_on_cancel)
                # watchfiles' thread wakes every ``step`` ms even when idle: 50 ms (its
                # default) keeps an idle daemon at ~20 wake-ups/s for that thread,
                # and adds at most that much to a drop → load latency.
                async for changes in awatch(
                    *paths, stop_event=stop, recursive=False, debounce=50, step=50
                ):
                    if relevant(changes):
                        self.notice()
                nursery.cancel_scope.cancel()
        except OSError as exc:
            logger.warning("filesystem watch failed paths={} error={}", paths, exc)
            ready.set()
            await trio.sleep_forever()


def _existing(dirs: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(d for d in dirs if d.is_dir())

"""The watcher and the reconcile service on a real temp folder with real file writes.

watchfiles waits in a thread, so these tests run on the real clock; they wait
for outcomes (with a deadline), never for fixed durations to assert timing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import trio

from cloacinactl.services.reconcile import Reconciler, ReconcileService

from .conftest import FakeHost, FakeSchedules, write_pkg


async def until(cond: Callable[[], bool], timeout: float = 10) -> None:
    with trio.fail_after(timeout):
        while not cond():
            await trio.sleep(0.02)


def service(
    host: FakeHost, schedules: FakeSchedules, dirs: list[Path], **kw: float
) -> ReconcileService:  # type: ignore[type-arg]
    rec = Reconciler(host, schedules, settle_s=0)  # type: ignore[arg-type,var-annotated]
    return ReconcileService(rec, dirs, **kw)


async def test_half_written_file_is_loaded_once_when_complete(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    svc = service(host, schedules, [tmp_path], debounce_s=0.4, poll_interval_s=math.inf)
    body = json.dumps({"name": "big", "version": "1.0", "extra": "x" * 4000})
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.serve)
        assert svc.passes == 1 and host.loads == []
        target = tmp_path / "big.cloacina"
        with target.open("w") as handle:  # a slow copy: chunks 0.1 s apart
            for i in range(0, len(body), 1000):
                handle.write(body[i : i + 1000])
                handle.flush()
                await trio.sleep(0.1)
        await until(lambda: len(host.loads) == 1)
        await trio.sleep(0.6)  # a further burst-free period must not reload it
        nursery.cancel_scope.cancel()
    assert host.loads == [(target, body)]
    assert schedules.rows == {"big": "1.0"}


async def test_burst_of_drops_coalesces_and_deletion_unloads(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    svc = service(host, schedules, [tmp_path], debounce_s=0.2, poll_interval_s=math.inf)
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.serve)
        for i in range(10):
            write_pkg(tmp_path / f"p{i}.cloacina", f"p{i}")
        await until(lambda: len(schedules.rows) == 10)
        assert svc.passes <= 3  # initial pass + one (or two) debounced passes
        (tmp_path / "p3.cloacina").unlink()
        await until(lambda: "p3" not in schedules.rows)
        nursery.cancel_scope.cancel()
    assert len(host.loads) == 10


async def test_watch_set_changes_live(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    home, extra = tmp_path / "packages", tmp_path / "extra"
    home.mkdir()
    extra.mkdir()
    write_pkg(home / "a.cloacina", "a")
    write_pkg(extra / "b.cloacina", "b")
    svc = service(host, schedules, [home], debounce_s=0.2, poll_interval_s=math.inf)
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.serve)
        assert schedules.rows == {"a": "1.0"}
        svc.update_watch_dirs([home, extra])  # SIGHUP with a new folder: scanned at once
        await until(lambda: "b" in schedules.rows)
        write_pkg(extra / "c.cloacina", "c")  # and now watched for events too
        await until(lambda: "c" in schedules.rows)
        added, removed = svc.update_watch_dirs([home])
        assert (added, removed) == ((), (extra,))
        await until(lambda: set(schedules.rows) == {"a"})
        nursery.cancel_scope.cancel()


async def test_poll_fallback_finds_a_folder_created_later(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    late = tmp_path / "late"
    svc = service(host, schedules, [late], debounce_s=0.1, poll_interval_s=0.2)
    async with trio.open_nursery() as nursery:
        await nursery.start(svc.serve)
        assert svc.watcher.watching == ()
        late.mkdir()
        write_pkg(late / "z.cloacina", "z")
        await until(lambda: "z" in schedules.rows)
        await until(lambda: svc.watcher.watching == (late,))
        nursery.cancel_scope.cancel()

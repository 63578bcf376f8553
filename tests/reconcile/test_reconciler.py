"""The Reconciler shell over real files, with a fake loader and schedule registry."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cloacinactl.services.reconcile import Reconciler

from .conftest import FakeHost, FakeSchedules, write_pkg


def make(host: FakeHost, schedules: FakeSchedules, **kw: object) -> Reconciler:  # type: ignore[type-arg]
    """A reconciler; these tests write settled files (old mtimes) between passes, so no
    settle wait unless a test asks for one."""
    kw.setdefault("settle_s", 0.0)
    return Reconciler(host, schedules, **kw)  # type: ignore[arg-type]


async def test_load_unchanged_reload_unload(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    rec = make(host, schedules)
    a = write_pkg(tmp_path / "a.cloacina", "a")
    b = write_pkg(tmp_path / "b.cloacina", "b")
    report = await rec.reconcile([tmp_path])
    assert sorted(report.loaded) == [a, b] and report.hashed == 2
    assert schedules.rows == {"a": "1.0", "b": "1.0"}

    # nothing changed: no archive re-read, nothing loaded
    report = await rec.reconcile([tmp_path])
    assert report.hashed == 0 and report.loaded == [] and len(host.loads) == 2

    # same version, new content: reloads
    write_pkg(a, "a", "1.0", extra="changed")
    report = await rec.reconcile([tmp_path])
    assert report.reloaded == [a]
    assert json.loads(host.loads[-1][1])["extra"] == "changed"
    assert host.unloads == ["a"]

    # deleted: unloaded with its schedules
    b.unlink()
    report = await rec.reconcile([tmp_path])
    assert report.unloaded == [b]
    assert schedules.rows == {"a": "1.0"}
    status = rec.status()
    assert status.packages_loaded == 1 and status.runs == 4
    assert status.packages[0]["name"] == "a" and status.last_run_at is not None


async def test_broken_package_reported_once_and_never_blocks_others(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    rec = make(host, schedules)
    bad = tmp_path / "bad.cloacina"
    bad.write_text("{ truncated")
    os.utime(bad, (time.time() - 5, time.time() - 5))
    write_pkg(tmp_path / "good.cloacina", "good")
    report = await rec.reconcile([tmp_path])
    assert report.loaded == [tmp_path / "good.cloacina"]
    assert "not a valid package" in report.failed[bad]
    assert rec.status().errors == {str(bad): report.failed[bad]}

    for _ in range(3):  # not retried while unchanged
        report = await rec.reconcile([tmp_path])
        assert report.failed == {}
    assert [p for p, _ in host.loads].count(bad) == 1

    write_pkg(bad, "fixed")  # retried once its content changes
    report = await rec.reconcile([tmp_path])
    assert report.loaded == [bad] and rec.status().errors == {}
    bad.unlink()
    await rec.reconcile([tmp_path])
    assert rec.status().packages_loaded == 1


async def test_invalid_schedules_make_a_package_broken(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    schedules.reject.add("cronny")
    rec = make(host, schedules)
    p = write_pkg(tmp_path / "c.cloacina", "cronny")
    report = await rec.reconcile([tmp_path])
    assert report.failed[p].startswith("invalid schedules:")
    assert host.unloads == ["cronny"] and schedules.rows == {}


async def test_same_name_in_two_files_first_wins_second_waits(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    first = write_pkg(d1 / "x.cloacina", "x", "1.0")
    second = write_pkg(d2 / "x.cloacina", "x", "2.0")
    rec = make(host, schedules)
    report = await rec.reconcile([d1, d2])
    assert report.loaded == [first]
    assert "already loaded from" in report.failed[second]
    first.unlink()  # the holder goes: the waiting one loads in the same pass
    report = await rec.reconcile([d1, d2])
    assert report.unloaded == [first] and report.loaded == [second]
    assert schedules.rows == {"x": "2.0"}


async def test_leftover_schedules_cleaned_on_first_pass(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    schedules.rows = {"kept": "1.0", "removed-while-down": "3.1"}
    write_pkg(tmp_path / "k.cloacina", "kept")
    report = await make(host, schedules).reconcile([tmp_path])
    assert report.cleaned == ["removed-while-down"]
    assert schedules.rows == {"kept": "1.0"}


async def test_folder_leaving_the_watch_set_unloads_its_packages(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    write_pkg(d1 / "a.cloacina", "a")
    b = write_pkg(d2 / "b.cloacina", "b")
    rec = make(host, schedules)
    await rec.reconcile([d1, d2])
    report = await rec.reconcile([d1])
    assert report.unloaded == [b] and schedules.rows == {"a": "1.0"}


async def test_a_file_still_being_written_waits_until_settled(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    now = [time.time_ns()]
    rec = make(host, schedules, settle_s=0.5, wall_ns=lambda: now[0])
    p = tmp_path / "slow.cloacina"
    p.write_text('{"name": "slow", "ver')  # half written, just now
    st = p.stat()
    now[0] = st.st_mtime_ns + 100_000_000  # 0.1 s later
    report = await rec.reconcile([tmp_path])
    assert report.pending == [p] and report.loaded == [] and host.loads == []
    assert report.recheck_after_s is not None and 0.35 < report.recheck_after_s <= 0.4
    write_pkg(p, "slow", age_s=0)
    now[0] = p.stat().st_mtime_ns + 600_000_000
    report = await rec.reconcile([tmp_path])
    assert report.loaded == [p] and len(host.loads) == 1


async def test_a_copy_that_keeps_an_old_mtime_is_read_once_it_is_complete(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules, autojump_clock: object
) -> None:
    """cp -p / rsync -t / tar: the mtime is old while the file is still being written."""
    import trio

    rec = make(host, schedules, settle_s=0.5)
    assert (await rec.reconcile([tmp_path])).loaded == []  # the start-up pass
    p = tmp_path / "kept.cloacina"
    p.write_text('{"name": "kept", "ver')  # half copied, mtime set to the source's
    old = time.time() - 3600
    os.utime(p, (old, old))
    report = await rec.reconcile([tmp_path])
    assert report.pending == [p] and host.loads == [] and report.failed == {}
    assert report.recheck_after_s is not None and 0.4 < report.recheck_after_s <= 0.5
    await trio.sleep(0.3)
    write_pkg(p, "kept", age_s=3600)  # the rest arrives, mtime kept again
    report = await rec.reconcile([tmp_path])
    assert report.pending == [p] and host.loads == []  # changed: wait again
    await trio.sleep(0.6)
    report = await rec.reconcile([tmp_path])
    assert report.loaded == [p] and len(host.loads) == 1 and report.failed == {}


async def test_archives_present_at_start_load_at_once(
    tmp_path: Path, host: FakeHost, schedules: FakeSchedules
) -> None:
    p = write_pkg(tmp_path / "old.cloacina", "old", age_s=3600)
    report = await make(host, schedules, settle_s=0.5).reconcile([tmp_path])
    assert report.loaded == [p] and report.pending == []

"""Drop, replace, delete, break: packages in the watch folder, the real daemon running."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

from daemon_helpers import (
    Daemons,
    completed_with,
    drop,
    executions,
    health,
    query,
    wait_for,
    write_package,
)


def _schedules(home: Path, name: str) -> list[tuple[object, ...]]:
    return query(
        home,
        "SELECT s.id, s.schedule_type FROM schedules s JOIN packages p ON p.id = s.package_id"
        " WHERE p.name = ?",
        name,
    )


def test_drop_replace_delete(cli, home: Path, daemons: Daemons, tmp_path: Path) -> None:
    proc = daemons.start()
    packages = home / "packages"
    archive = drop(write_package(tmp_path, "ticker", marker="v1"), packages, "ticker.cloacina")

    # dropped -> its cron workflow runs and its executions complete in the database
    wait_for(lambda: completed_with(home, "ticker_flow", "v1"), what="a v1 run to complete")
    body = health(home)
    assert body is not None and body["status"] == "healthy"
    assert body["reconciler"]["packages_loaded"] == 1
    assert body["reconciler"]["last_run_at"] is not None
    assert body["schedules"]["cron"] == 1
    assert body["workflows"] == ["ticker_flow"]
    run = completed_with(home, "ticker_flow", "v1")[0]
    assert run["origin"] == "cron"
    assert set(run["input"]) >= {
        "scheduled_time",
        "schedule_id",
        "schedule_timezone",
        "schedule_expression",
    }
    assert run["input"]["schedule_expression"] == "* * * * * *"
    status = cli("-o", "json", "daemon", "status")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["packages_loaded"] == 1 and shown["health"] == "running"
    overall = cli("status", "--no-color")
    assert "daemon" in overall.stdout and "packages=1" in overall.stdout

    # replaced by a new version -> the new version runs
    drop(write_package(tmp_path, "ticker", version="2.0.0", marker="v2"), packages, archive.name)
    wait_for(lambda: completed_with(home, "ticker_flow", "v2"), what="a v2 run to complete")
    body = health(home)
    assert body is not None
    assert [p["version"] for p in body["reconciler"]["packages"]] == ["2.0.0"]
    assert len(_schedules(home, "ticker")) == 1

    # deleted -> its schedules are gone, nothing fires any more
    archive.unlink()
    wait_for(lambda: not _schedules(home, "ticker"), what="schedules to be removed")
    wait_for(
        lambda: (health(home) or {}).get("reconciler", {}).get("packages_loaded") == 0,
        what="the package to be unloaded",
    )
    active = query(home, "SELECT count(*) FROM workflows WHERE active = 1")[0][0]
    assert active == 0
    before = len(executions(home, "ticker_flow"))
    wait_for(
        lambda: all(e["status"] != "Running" for e in executions(home, "ticker_flow")),
        what="in-flight runs to finish",
    )
    time.sleep(1.5)  # slots keep passing: none may fire for a deleted package
    assert len(executions(home, "ticker_flow")) == before
    assert daemons.stop(proc, signal.SIGINT) == 0


def test_broken_archive_reported_once_and_poll_trigger_gated(
    cli, home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    packages = home / "packages"
    (packages / "garbage.cloacina").write_bytes(b"this is not a bzip2 tarball")
    bad_import = write_package(tmp_path, "badimport", cron=None, broken_import=True)
    drop(bad_import, packages, "badimport.cloacina")
    # A poll trigger that always fires, a task slower than the poll interval:
    # allow_concurrent=False must keep the runs strictly one after another.
    gated = write_package(tmp_path, "gated", cron=None, sleep_s=0.3, poll="return True")
    drop(gated, packages, "gated.cloacina")
    daemons.start()

    body = health(home)
    assert body is not None and body["status"] == "healthy"
    errors = body["errors"]
    assert set(errors) == {str(packages / "garbage.cloacina"), str(packages / "badimport.cloacina")}
    assert "boom at import" in errors[str(packages / "badimport.cloacina")]
    assert body["reconciler"]["packages_loaded"] == 1
    # `daemon status` (the table a person reads) names each broken package too
    table = cli("--no-color", "daemon", "status")
    assert table.returncode == 0, table.stderr
    assert "garbage.cloacina" in table.stdout and "badimport.cloacina" in table.stdout
    assert "0 cron, 1 poll" in table.stdout

    runs = wait_for(
        lambda: [e for e in executions(home, "gated_flow") if e["status"] == "Completed"][3:],
        what="four completed poll-triggered runs",
    )
    assert runs
    done = [e for e in executions(home, "gated_flow") if e["status"] == "Completed"]
    assert all(e["origin"] == "trigger" for e in done)
    assert all(
        e["input"]["trigger_name"] == "poller" and "triggered_at" in e["input"] for e in done
    )
    for earlier, later in itertools.pairwise(done):
        assert later["created_at"] >= earlier["completed_at"], "runs overlapped"

    # reported once, not on every poll tick
    log = daemons.log.read_text()
    assert log.count("package failed to load") == 2, log[-2000:]

    # a fixed archive is retried at once (its content changed)
    drop(write_package(tmp_path, "badimport", cron=None), packages, "badimport.cloacina")
    wait_for(
        lambda: str(packages / "badimport.cloacina") not in (health(home) or {}).get("errors", {}),
        what="the fixed archive to load",
    )
    assert (health(home) or {})["reconciler"]["packages_loaded"] == 2

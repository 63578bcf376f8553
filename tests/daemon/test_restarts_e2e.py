"""Restarts and signals: kill -9 recovery, bounded cron catch-up, SIGHUP watch-set changes."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections import Counter
from pathlib import Path

from daemon_helpers import (
    FAST_CONFIG,
    Daemons,
    completed_with,
    drop,
    executions,
    health,
    query,
    wait_for,
    write_package,
)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def test_kill_9_during_a_run_then_restart_finishes_it(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    slow = write_package(tmp_path, "slow", cron="*/2 * * * * *", sleep_s=1.5)
    drop(slow, home / "packages", "slow.cloacina")
    first = daemons.start()
    running = wait_for(
        lambda: [e["id"] for e in executions(home, "slow_flow") if e["status"] == "Running"],
        what="a run in progress",
    )
    daemons.kill9(first)
    assert health(home) is None

    daemons.start()
    # the interrupted execution is picked up again (its task reset) and completes
    wait_for(
        lambda: all(
            e["status"] == "Completed" for e in executions(home, "slow_flow") if e["id"] in running
        ),
        timeout=30,
        what="the interrupted runs to complete",
    )
    resets = query(
        home,
        "SELECT count(*) FROM events WHERE execution_id = ? AND event_type = 'task_reset'",
        running[0],
    )[0][0]
    assert resets >= 1
    # nothing stays stuck: every run older than a few seconds has finished
    time.sleep(1)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    stuck = [
        e
        for e in executions(home, "slow_flow")
        if e["status"] in ("Pending", "Running") and _utc(e["created_at"]) < cutoff
    ]
    assert stuck == []


def test_missed_slots_caught_up_never_more_than_max_catchup(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    (home / "config.toml").write_text(FAST_CONFIG + "cron_max_catchup = 2\n")
    drop(write_package(tmp_path, "every", marker="m"), home / "packages", "every.cloacina")
    proc = daemons.start()
    wait_for(lambda: completed_with(home, "every_flow", "m"), what="a first cron run")
    assert daemons.stop(proc) == 0
    slots = [_utc(e["input"]["scheduled_time"]) for e in executions(home, "every_flow")]
    last_before = max(slots)
    down_until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    time.sleep(5)  # ~5 one-second slots are missed while the daemon is down

    daemons.start()
    wait_for(
        lambda: any(
            _utc(e["input"]["scheduled_time"]) > down_until for e in executions(home, "every_flow")
        ),
        what="an on-time run after the restart",
    )
    runs = executions(home, "every_flow")
    fired = [_utc(e["input"]["scheduled_time"]) for e in runs]
    assert max(Counter(fired).values()) == 1, "a slot fired twice"
    in_gap = [t for t in fired if last_before < t <= down_until]
    # the missed slots are bounded: at most cron_max_catchup, plus the newest due
    # slot, which counts as on time when the scheduler wakes
    assert 1 <= len(in_gap) <= 3, in_gap
    missed = int((down_until - last_before).total_seconds())
    assert missed >= 4 and len(in_gap) < missed
    # the caught-up slots are the most recent ones
    assert in_gap == sorted(in_gap) and in_gap[-1] >= down_until - dt.timedelta(seconds=3)


def test_sighup_adds_and_removes_a_watch_directory(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    proc = daemons.start()
    extra = tmp_path / "extra"
    drop(write_package(tmp_path, "faraway", marker="far"), extra, "faraway.cloacina")
    time.sleep(0.5)
    assert (health(home) or {})["reconciler"]["packages_loaded"] == 0

    (home / "config.toml").write_text(FAST_CONFIG + f'\n[watch]\ndirectories = ["{extra}"]\n')
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: completed_with(home, "faraway_flow", "far"), what="its package to run")
    body = health(home)
    assert body is not None and str(extra) in body["watch_dirs"]
    assert body["reconciler"]["packages_loaded"] == 1

    (home / "config.toml").write_text(FAST_CONFIG)
    proc.send_signal(signal.SIGHUP)
    wait_for(
        lambda: (health(home) or {}).get("reconciler", {}).get("packages_loaded") == 0,
        what="the removed folder's package to unload",
    )
    assert str(extra) not in (health(home) or {})["watch_dirs"]
    assert daemons.stop(proc) == 0


def test_package_removed_while_down_is_cleaned_at_first_reconcile(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    archive = drop(write_package(tmp_path, "gone", marker="g"), home / "packages", "gone.cloacina")
    proc = daemons.start()
    wait_for(lambda: completed_with(home, "gone_flow", "g"), what="a first run")
    assert daemons.stop(proc) == 0
    assert query(home, "SELECT count(*) FROM schedules")[0][0] == 1
    archive.unlink()

    daemons.start()  # READY comes after the initial reconcile
    assert query(home, "SELECT count(*) FROM schedules")[0][0] == 0
    assert query(home, "SELECT count(*) FROM workflows WHERE active = 1")[0][0] == 0
    assert (health(home) or {})["reconciler"]["packages_loaded"] == 0


def test_sigterm_drains_in_flight_and_second_sigint_leaves_the_rest_recoverable(
    home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    slow = write_package(tmp_path, "drain", cron="*/30 * * * * *", sleep_s=1.0, poll="return True")
    drop(slow, home / "packages", "drain.cloacina")
    proc = daemons.start()
    running = wait_for(
        lambda: [e["id"] for e in executions(home, "drain_flow") if e["status"] == "Running"],
        what="a run in progress",
    )
    assert daemons.stop(proc, signal.SIGTERM) == 0  # drained, then a clean exit
    states = {e["id"]: e["status"] for e in executions(home, "drain_flow")}
    assert all(states[r] == "Completed" for r in running), states

    # a task longer than we are willing to wait: the second SIGINT exits 1 at once
    (home / "config.toml").write_text(
        FAST_CONFIG.replace("shutdown_timeout_s = 10", "shutdown_timeout_s = 60")
    )
    long = write_package(tmp_path, "drain", marker="v2", cron=None, sleep_s=4.0, poll="return True")
    drop(long, home / "packages", "drain.cloacina")
    proc = daemons.start()
    running = wait_for(
        lambda: [
            e["id"]
            for e in executions(home, "drain_flow")
            if e["status"] == "Running" and e["id"] not in states
        ],
        what="a long run in progress",
    )
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 1
    daemons.start()
    wait_for(
        lambda: all(
            e["status"] == "Completed" for e in executions(home, "drain_flow") if e["id"] in running
        ),
        timeout=30,
        what="the interrupted run to complete after the restart",
    )


def test_sighup_changes_the_drain_deadline(home: Path, daemons: Daemons, tmp_path: Path) -> None:
    # shutdown_timeout_s = 10 at start; a SIGHUP lowers it to 1 s, and the next
    # SIGTERM drains for 1 s (not 10) while a 30 s task is still running.
    drop(write_package(tmp_path, "slow", sleep_s=30), home / "packages", "slow.cloacina")
    proc = daemons.start()
    (home / "config.toml").write_text(
        FAST_CONFIG.replace("shutdown_timeout_s = 10", "shutdown_timeout_s = 1")
    )
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload applied" in daemons.log.read_text(), what="the reload")
    wait_for(
        lambda: [e for e in executions(home, "slow_flow") if e["status"] == "Running"],
        what="a running execution",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=8) == 0
    assert "draining (up to 1.0s)" in daemons.log.read_text()


def test_a_missing_watch_directory_is_reported_then_picked_up_once_created(
    cli, home: Path, daemons: Daemons, tmp_path: Path
) -> None:
    later = tmp_path / "not-yet"
    proc = daemons.start("--watch-dir", str(later))
    body = health(home) or {}
    assert body["missing_watch_dirs"] == [str(later)]
    assert f"watch directory {later} does not exist" in daemons.log.read_text()
    # wide enough for the whole path (the table cuts values to the terminal's width)
    shown = cli("daemon", "status", "--no-color", env={"COLUMNS": "400"}).stdout
    assert "missing_watch_dirs" in shown and str(later) in shown

    drop(write_package(tmp_path, "latecomer", marker="late"), later, "latecomer.cloacina")
    wait_for(lambda: completed_with(home, "latecomer_flow", "late"), what="its package to run")
    assert (health(home) or {})["missing_watch_dirs"] == []
    assert daemons.stop(proc) == 0

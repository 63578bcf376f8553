"""kill -9 at random points, restart: nothing stuck, nothing lost, nothing completed twice;
two engines on one PostgreSQL: every task body runs exactly once."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cloacinactl.store import open_store
from cloacinactl.store import schema as s

PROC = str(Path(__file__).parent / "engine_proc.py")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, PROC, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> None:
    try:
        _out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]


def _check_invariants(url: str, expected: int, tasks_per: int) -> dict[str, Any]:
    with open_store(url, migrate=False) as store:

        def read(conn: Any) -> dict[str, Any]:
            statuses = Counter(
                r.status for r in conn.execute(select(s.executions.c.id, s.executions.c.status))
            )
            dup = conn.execute(
                select(s.events.c.execution_id, s.events.c.task_name, func.count())
                .where(s.events.c.event_type == "task_completed")
                .group_by(s.events.c.execution_id, s.events.c.task_name)
                .having(func.count() > 1)
            ).all()
            completed = conn.execute(
                select(s.tasks.c.execution_id, s.tasks.c.task_name).where(
                    s.tasks.c.state == "Completed"
                )
            ).all()
            outputs = {
                (r.execution_id, r.task_name)
                for r in conn.execute(
                    select(s.tasks.c.execution_id, s.tasks.c.task_name).where(
                        s.tasks.c.output_context.is_not(None)
                    )
                )
            }
            done_events = {
                (r.execution_id, r.task_name)
                for r in conn.execute(
                    select(s.events.c.execution_id, s.events.c.task_name).where(
                        s.events.c.event_type == "task_completed"
                    )
                )
            }
            seq_gaps = conn.execute(
                select(s.events.c.execution_id)
                .group_by(s.events.c.execution_id)
                .having(func.max(s.events.c.sequence_num) != func.count())
            ).all()
            return {
                "statuses": statuses,
                "dup": dup,
                "completed": {(r.execution_id, r.task_name) for r in completed},
                "outputs": outputs,
                "done_events": done_events,
                "seq_gaps": seq_gaps,
                "tasks": conn.execute(select(func.count()).select_from(s.tasks)).scalar(),
                "events": Counter(
                    dict(
                        conn.execute(
                            select(s.events.c.event_type, func.count()).group_by(
                                s.events.c.event_type
                            )
                        ).all()
                    )
                ),
                "claimants": {
                    data["claimant_id"]
                    for data in conn.execute(
                        select(s.events.c.event_data).where(s.events.c.event_type == "task_claimed")
                    ).scalars()
                },
            }

        data = store.read(read)
    assert sum(data["statuses"].values()) == expected
    assert set(data["statuses"]) <= {"Completed", "Failed"}, data["statuses"]
    assert data["dup"] == [], "a task has two task_completed events"
    assert data["completed"] == data["outputs"] == data["done_events"], "a completed task lost"
    assert data["seq_gaps"] == []
    assert data["tasks"] == expected * tasks_per
    return data


@pytest.mark.slow
def test_kill_9_at_random_points_then_restart(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "side-effects.log"
    _finish(_spawn(db_url, "submit", "pipeline", "200", str(log), "0.01"), 120)
    rng = random.Random()
    for _ in range(4):
        proc = _spawn(db_url, "run", "8")
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            proc.kill()  # SIGKILL: no drain, no release
            proc.wait()
    _finish(_spawn(db_url, "run", "8"), 180)
    data = _check_invariants(db_url, 200, 3)
    assert data["statuses"]["Completed"] >= 190  # only repeatedly-killed tasks may abandon
    # the kills hit in-flight work (else this test proves nothing) ...
    assert data["events"]["task_reset"] >= 1, data["events"]
    # ... and every completed task's body ran at least once
    assert len(log.read_text().split()) >= len(data["completed"])


@pytest.mark.slow
def test_two_engines_run_each_task_body_exactly_once(fresh_pg_url: str, tmp_path: Path) -> None:
    log = tmp_path / "side-effects.log"
    # 200 parallel-shaped executions x 5 tasks = 1,000 tasks
    _finish(_spawn(fresh_pg_url, "submit", "parallel", "200", str(log), "0.002"), 120)
    engines = [_spawn(fresh_pg_url, "run", "8") for _ in range(2)]
    for proc in engines:
        _finish(proc, 240)
    data = _check_invariants(fresh_pg_url, 200, 5)
    assert data["statuses"] == Counter({"Completed": 200})
    lines = log.read_text().split()
    assert len(lines) == 1000
    counts = Counter(lines)
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:5]
    assert len(data["claimants"]) == 2, "both engines should have claimed work"

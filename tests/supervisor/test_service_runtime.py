"""run_service with real child processes: stop kills every descendant, second SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from cloacinactl.supervisor import find_owner, stop_service

FIXTURE = Path(__file__).with_name("fixture_service.py")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def start(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    return subprocess.Popen(
        [sys.executable, str(FIXTURE), str(home), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def log_records(home: Path) -> list[dict[str, object]]:
    path = home / "logs" / "cloacina-compiler.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def ready(home: Path) -> bool:
    _, owner = find_owner(home / "compiler.pid")
    return owner is not None and "children" in owner.record.meta


def test_stop_kills_stubborn_child_and_its_grandchild(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = start(home, "--stubborn", "--children", "2", "--grace", "0.3")
    try:
        wait_for(
            lambda: (
                ready(home)
                and sum("grandchild" in str(r["message"]) for r in log_records(home)) == 2
            )
        )
        records = [r for r in log_records(home) if "grandchild" in str(r["message"])]
        grandchildren = [int(str(r["message"]).split()[1]) for r in records]
        assert {r["child"] for r in records} == {"worker 1", "worker 2"}
        children = psutil.Process(proc.pid).children()
        assert len(children) == 2
        titles = psutil.Process(proc.pid).cmdline()
        assert titles[0] == "cloacina-compiler: supervisor"
        result = stop_service(home / "compiler.pid", "compiler", timeout_s=20)
        assert result.pid == proc.pid
        assert proc.wait(timeout=10) == 0
        for pid in [c.pid for c in children] + grandchildren:
            assert gone(pid), f"pid {pid} survived the stop"
        assert not (home / "compiler.pid").exists()
    finally:
        proc.kill()
        proc.wait()


def test_second_sigint_exits_1_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = start(home, "--slow-drain", "30", "--stubborn")
    try:
        wait_for(lambda: ready(home))
        child = psutil.Process(proc.pid).children()[0]
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: any("draining" in str(r["message"]) for r in log_records(home)))
        assert proc.poll() is None  # still draining
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 1
        wait_for(lambda: gone(child.pid), timeout=5)
        assert not (home / "compiler.pid").exists()
    finally:
        proc.kill()
        proc.wait()


def test_crashing_child_is_restarted_and_its_output_logged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = "import os, sys; print('gen', os.getpid(), flush=True); sys.exit(7)"
    proc = start(home, "--child-code", code, "--fast-crash-s", "0")
    try:
        wait_for(lambda: sum("gen " in str(r["message"]) for r in log_records(home)) >= 3)
        records = [r for r in log_records(home) if "gen " in str(r["message"])]
        generations = [r["generation"] for r in records]
        assert generations[:3] == [1, 2, 3]
        assert all(r["stream"] == "stdout" for r in records)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_child_records_reach_the_supervisor_log(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = (
        "import time\n"
        "from loguru import logger\n"
        "from cloacinactl.config.logfilter import LogFilter\n"
        "from cloacinactl.supervisor import child_log_fd, install_child_logging\n"
        "install_child_logging(child_log_fd(), LogFilter(), {'role': 'worker'})\n"
        "logger.bind(task_id='t-1').warning('task said {}', 'hello')\n"
        "time.sleep(600)\n"
    )
    proc = start(home, "--child-code", code)
    try:
        wait_for(lambda: any(r["message"] == "task said hello" for r in log_records(home)))
        record = next(r for r in log_records(home) if r["message"] == "task said hello")
        assert record["level"] == "WARNING" and record["task_id"] == "t-1"
        assert record["child"] == "worker 1" and record["stream"] == "record"
        assert record["role"] == "worker" and record["pid"] != proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_forced_stop_takes_the_children_down_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = start(home, "--stubborn")
    try:
        wait_for(
            lambda: (
                ready(home) and any("grandchild" in str(r["message"]) for r in log_records(home))
            )
        )
        tree = psutil.Process(proc.pid).children(recursive=True)
        assert len(tree) == 2  # the stubborn child and its grandchild
        result = stop_service(home / "compiler.pid", "compiler", force=True, timeout_s=10)
        assert result.forced
        assert proc.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: all(gone(p.pid) for p in tree), timeout=5)
        assert not (home / "compiler.pid").exists()  # the stale file was cleaned
    finally:
        proc.kill()
        proc.wait()

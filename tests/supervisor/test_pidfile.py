"""The PID file protocol in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from cloacinactl.errors import TransportError, UserError
from cloacinactl.supervisor import PidFile, find_owner, lock_held, read_pid_file, stop_service


def test_acquire_records_identity_and_holds_lock(tmp_path: Path) -> None:
    path = tmp_path / "daemon.pid"
    pid_file = PidFile(path, "daemon").acquire()
    try:
        lines = path.read_text().splitlines()
        assert lines[0] == str(os.getpid())
        meta = json.loads(lines[1])
        assert meta["create_time"] == pytest.approx(psutil.Process().create_time())
        assert lock_held(path)
        record, owner = find_owner(path)
        assert record is not None and owner is not None and owner.process.pid == os.getpid()
        pid_file.update(address="127.0.0.1:1234")
        assert lock_held(path)
        record = read_pid_file(path)
        assert record is not None and record.meta["address"] == "127.0.0.1:1234"
        with pytest.raises(UserError, match="already running"):
            PidFile(path, "daemon").acquire()
    finally:
        pid_file.release()
    assert not path.exists()


def test_second_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    pid_file = PidFile(path, "server").acquire()
    try:
        code = (
            "import sys; from pathlib import Path\n"
            "from cloacinactl.supervisor import PidFile\n"
            "from cloacinactl.errors import UserError\n"
            "try:\n    PidFile(Path(sys.argv[1]), 'server').acquire()\n"
            "except UserError as e:\n    print(e); sys.exit(1)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, text=True
        )
        assert result.returncode == 1 and "already running" in result.stdout
    finally:
        pid_file.release()


def test_stale_file_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "daemon.pid"
    path.write_text("999999\n{}\n")
    assert not lock_held(path)
    pid_file = PidFile(path, "daemon").acquire()
    try:
        assert pid_file.stale is not None and pid_file.stale.pid == 999999
        assert read_pid_file(path).pid == os.getpid()  # type: ignore[union-attr]
    finally:
        pid_file.release()


def test_stop_of_garbage_file_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "daemon.pid"
    path.write_text("not a pid\n")
    with pytest.raises(TransportError):
        stop_service(path, "daemon")
    assert not path.exists()
    with pytest.raises(TransportError, match="not running"):
        stop_service(path, "daemon")

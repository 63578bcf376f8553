"""Stopping a running service from outside, via its PID file (``X stop``)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from cloacinactl.errors import TransportError
from cloacinactl.supervisor.pidfile import find_owner, lock_held, remove_if_stale


@dataclass(frozen=True)
class StopResult:
    pid: int
    forced: bool
    seconds: float


def stop_service(
    pid_path: Path, service: str, *, force: bool = False, timeout_s: float = 60.0
) -> StopResult:
    """SIGTERM (SIGKILL with ``force``) the verified owner of ``pid_path``; wait for exit.

    TransportError (exit 2) when there is no PID file, the file is stale (it is
    then removed), the PID belongs to an unrelated process (never signalled),
    or the process did not exit within ``timeout_s``.
    """
    record, owner = find_owner(pid_path)
    if record is None:
        if pid_path.exists():
            remove_if_stale(pid_path)
            raise TransportError(f"{service}: PID file {pid_path} is unreadable; removed it")
        raise TransportError(
            f"{service} is not running (no PID file at {pid_path})",
            hint=f"start it with: cloacinactl {service} start",
        )
    if owner is None:
        if lock_held(pid_path):
            raise TransportError(
                f"{service}: PID {record.pid} in {pid_path} does not match the running owner; "
                "not signalling it"
            )
        removed = remove_if_stale(pid_path)
        note = "removed the stale PID file" if removed else "left the PID file in place"
        raise TransportError(
            f"{service} is not running (stale PID file naming pid {record.pid}; {note})"
        )
    sig = signal.SIGKILL if force else signal.SIGTERM
    started = time.monotonic()
    if force:
        # The service cannot clean up after SIGKILL: take its children (each in
        # its own process group) down with it.
        kill_descendants(owner.process)
    try:
        os.kill(owner.process.pid, sig)
    except ProcessLookupError:
        raise TransportError(
            f"{service}: pid {record.pid} exited before it could be signalled"
        ) from None
    if not wait_exit(owner.process, timeout_s):
        raise TransportError(
            f"{service} (pid {record.pid}) did not exit within {timeout_s:g}s",
            hint=f"force it: cloacinactl {service} stop --force",
        )
    if force:
        remove_if_stale(pid_path)
    return StopResult(pid=record.pid, forced=force, seconds=time.monotonic() - started)


def wait_exit(proc: psutil.Process, timeout_s: float) -> bool:
    """Wait until ``proc`` has exited (a zombie counts); False on timeout.

    Uses a pidfd (readable once the process exits, even when it is not our
    child) so the exit is seen at once; falls back to polling elsewhere.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = -1
    if pidfd >= 0:
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            return bool(poller.poll(max(0, int(timeout_s * 1000))))
        finally:
            os.close(pidfd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def kill_descendants(proc: psutil.Process) -> None:
    """SIGKILL every descendant of ``proc`` and the process groups they lead."""
    try:
        children = proc.children(recursive=True)
    except psutil.Error:
        return
    for child in children:
        with contextlib.suppress(OSError):
            if os.getpgid(child.pid) == child.pid:
                os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.Error):
            child.kill()


def service_binary(service: str) -> str:
    """The installed ``cloacina-<service>`` console script (beside this interpreter first)."""
    import shutil
    import sys

    name = f"cloacina-{service}"
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        from cloacinactl.errors import UserError

        raise UserError(f"{name} is not installed", hint="reinstall cloacinactl (pip install .)")
    return found


def exec_service(service: str, args: list[str]) -> None:
    """Replace this process with the service binary (foreground), passing ``args``."""
    import sys

    binary = service_binary(service)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [binary, *args])

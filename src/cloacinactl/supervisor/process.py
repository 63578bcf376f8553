"""Low-level helpers: spawn a child in its own process group, stop the whole group.

Usable on their own. Exit is awaited through ``trio.Process.wait`` (a pidfd on
Linux), so it is noticed at once and the zombie is reaped by the wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping, Sequence

import psutil
import trio

# After the group leader exited, members that outlive it are polled at this
# step (only during the grace period of a stop, never while idle).
_GROUP_POLL_S = 0.01
# Upper bound on waiting for SIGKILLed members to be dead (it takes microseconds
# unless a process is stuck in uninterruptible I/O).
_KILL_SETTLE_S = 1.0


async def spawn_group(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    pass_fds: Sequence[int] = (),
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
) -> trio.Process:
    """Start ``argv`` as the leader of a new session and process group (pgid == pid)."""
    return await trio.lowlevel.open_process(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process is left in group ``pgid``."""
    return signal_group(pgid, 0)


async def terminate_group(process: trio.Process, grace_s: float) -> int:
    """SIGTERM the process group of ``process``, SIGKILL it after ``grace_s``.

    ``grace_s`` <= 0 sends SIGKILL at once.

    Waits for the leader (reaping it) and for every other member of the group
    and every descendant (children, grandchildren, even those that left the
    group) to be gone; zombies count as gone. Returns the leader's exit status.
    Runs shielded from cancellation: a stop is never left half-done.
    """
    pgid = process.pid
    returncode = 0
    with trio.CancelScope(shield=True):
        members = descendants(pgid)
        if process.returncode is None and grace_s > 0:
            signal_group(pgid, signal.SIGTERM)
        else:
            # No grace asked for, or the leader is gone already (whatever is
            # left is orphaned): SIGKILL straight away.
            signal_group(pgid, signal.SIGKILL)
        deadline = trio.current_time() + grace_s
        with trio.move_on_at(deadline):
            await process.wait()
            while any(_running(p) for p in members):
                await trio.sleep(_GROUP_POLL_S)
        # SIGKILL cannot be ignored; wait the few moments it takes to land (zombies
        # count as gone, so an orphan's slow reaping by init never delays us).
        signal_group(pgid, signal.SIGKILL)
        for member in members:
            with contextlib.suppress(psutil.Error):
                if _running(member):
                    member.kill()
        returncode = await process.wait()
        with trio.move_on_after(_KILL_SETTLE_S):
            while any(_running(p) for p in members):
                await trio.sleep(_GROUP_POLL_S / 10)
    return returncode


def descendants(pid: int) -> list[psutil.Process]:
    """Every descendant of ``pid`` right now (empty when it is gone)."""
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_group_now(pgid: int) -> None:
    """SIGKILL group ``pgid`` without waiting (forced exit paths)."""
    signal_group(pgid, signal.SIGKILL)

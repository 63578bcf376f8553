"""Import a package's entry module in a fenced-off process (the compiler's check).

``python -m cloacinactl.packages.sandbox SPEC_JSON ROOT`` limits itself before
any package code runs, then does what ``python -m cloacinactl.packages.importer
ROOT`` does (one JSON answer on stdout). SPEC_JSON holds:

* ``memory_mb``: the address-space limit (``RLIMIT_AS``); an import that
  allocates past it fails with ``MemoryError``, reported as such;
* ``cpu_s``: the CPU-time limit (``RLIMIT_CPU``), a backstop behind the
  parent's wall-clock timeout;
* ``deny``: paths (files or folders) nothing may open, e.g. the compiler's
  home with its signing key and the SQLite database.

An audit hook (it cannot be removed once installed) refuses, with a
``PermissionError`` naming what was tried: opening a denied path; opening
anything under another process's ``/proc/<pid>`` (the compiler's memory holds
its key, its environment the database URL); creating processes (``fork``,
``exec``, ``posix_spawn``, ``system``, ``subprocess``); signalling any process
but itself and its own group; connecting or sending over a socket (so no
database or network access). The
parent gives the child an environment without the compiler's variables (no
database URL, no keys), runs it in its own session and kills the whole group
afterwards, so a C extension that forks behind the hook's back still loses
its children.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
from collections.abc import Sequence
from typing import Any

# Audit events that create a process.
PROCESS_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "os.startfile",
        "subprocess.Popen",
        "pty.spawn",
    }
)
# Audit events that talk over a socket.
SOCKET_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
# Audit events that signal a process or a process group.
SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg"})
# Events whose first argument is a path that is being opened or listed.
PATH_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "shutil.copyfile", "os.chdir"})
MEMORY_MARK = "sandbox: memory limit"
# /proc/<pid>/…: another process's memory, environment, command line, open files.
_PROC_PID = re.compile(r"^/proc/(\d+)(?:/|$)")


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _other_process(path: str) -> bool:
    """Is ``path`` (a real path) under another process's ``/proc/<pid>``? The compiler's
    ``/proc/<pid>/mem`` holds its signing key, its ``environ`` the database URL."""
    found = _PROC_PID.match(path)
    return found is not None and int(found.group(1)) != os.getpid()


def _signals_others(event: str, args: tuple[Any, ...]) -> bool:
    """``os.kill``/``os.killpg`` aimed anywhere but this process or its own group."""
    if not args or not isinstance(args[0], int):
        return True
    target = args[0]
    if event == "os.killpg":
        return target not in (0, os.getpgrp())
    return target not in (0, os.getpid(), -os.getpgrp())


def make_hook(deny: Sequence[str]) -> Any:
    """The audit hook for ``deny`` (real paths)."""
    roots = tuple(os.path.realpath(p) for p in deny)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in PROCESS_EVENTS:
            raise PermissionError(f"creating a process ({event}) is not allowed while importing")
        if event in SOCKET_EVENTS:
            raise PermissionError(f"network access ({event}) is not allowed while importing")
        if event in SIGNAL_EVENTS and _signals_others(event, args):
            raise PermissionError(
                f"signalling another process ({event}) is not allowed while importing"
            )
        if event in PATH_EVENTS and args:
            target = args[0]
            if isinstance(target, bytes):
                target = os.fsdecode(target)
            if not isinstance(target, str):
                return  # a file descriptor: opened under this hook already
            real = os.path.realpath(target)
            if (roots and _under(real, roots)) or _other_process(real):
                raise PermissionError(f"access to {target} is not allowed while importing")

    return hook


def apply_limits(memory_mb: int, cpu_s: int) -> None:
    """Address space and CPU time; no core files."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m cloacinactl.packages.sandbox SPEC_JSON ROOT", file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    # Everything the import needs from us is loaded before the fence goes up.
    from cloacinactl.packages import importer

    apply_limits(int(spec["memory_mb"]), int(spec["cpu_s"]))
    sys.addaudithook(make_hook([str(p) for p in spec.get("deny", ())]))
    try:
        return importer._main([argv[1]])
    except MemoryError:
        # the answer itself could not be produced; say why on stderr
        os.write(2, f"\n{MEMORY_MARK}\n".encode())
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

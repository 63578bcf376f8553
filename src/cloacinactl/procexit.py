"""Leaving a process without the interpreter's module teardown when nothing needs it.

Tearing down the modules a process has imported only frees memory, and it is
not free. Measured with ``python -m benchmarks.cli.tricks`` (four runs of 9-15
interleaved rounds, 2-core machine), ``sys.exit`` instead of :func:`exit_now`
costs 15-20 ms of CPU for ``config list``, 10-29 ms for ``status``, and takes
an idle daemon from SIGTERM to gone in 115 ms instead of 66 ms. :func:`exit_now`
keeps everything else a normal exit does: atexit callbacks run (logging,
loguru, temporary directories, coverage), the standard streams are flushed,
and when a non-daemon thread is still alive the normal exit (which waits for
it) is taken instead.

This module is the only user of ``atexit._run_exitfuncs`` (private; the public
``atexit`` API cannot run the callbacks early, and running ours last from an
atexit callback would depend on import order and skip callbacks registered
before it). ``tests/cli/test_library_internals.py`` fails if it disappears or
stops running the callbacks last-registered-first and only once (a failed
flush afterwards falls back to ``sys.exit``, which must not run them again).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def _flush() -> bool:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        return False
    return True


def exit_now(code: int) -> NoReturn:
    """``sys.exit(code)``, minus the module teardown when it would only free memory."""
    threading = sys.modules.get("threading")
    if threading is not None:
        main = threading.main_thread()
        if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
            sys.exit(code)  # the normal exit waits for it
    if not _flush():
        sys.exit(code)  # let the normal teardown report or ignore it, as always
    import atexit

    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is None:  # a Python without it: the normal exit, slower
        sys.exit(code)
    run_exitfuncs()
    if not _flush():
        sys.exit(code)
    os._exit(code)

"""Leaving a process without the interpreter's module teardown when nothing needs it.

Tearing down the modules a process has imported only frees memory, and it is
not free: ~10 ms for a CLI verb, ~100 ms for a service with ~600 modules (most of
an idle daemon's ``stop``). :func:`exit_now` keeps everything else a normal exit
does: atexit callbacks run (logging, loguru, temporary directories, coverage),
the standard streams are flushed, and when a non-daemon thread is still alive
the normal exit (which waits for it) is taken instead.
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

    atexit._run_exitfuncs()
    if not _flush():
        sys.exit(code)
    os._exit(code)

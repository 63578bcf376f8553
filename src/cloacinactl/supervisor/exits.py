"""How a process ended, in words (pure: no trio, cheap to import in a worker)."""

from __future__ import annotations

import signal


def exit_description(returncode: int) -> str:
    """``exit 3`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit {returncode}"

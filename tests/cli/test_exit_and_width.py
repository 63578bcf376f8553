"""How the CLI process ends (fast exit only when nothing needs the teardown) and help width."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest


def _run(code: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, **kwargs
    )


def test_fast_exit_flushes_buffered_output_and_keeps_the_code() -> None:
    # stdout is a pipe and (without PYTHONUNBUFFERED) block-buffered: at exit the
    # text is still in the buffer.
    code = "from cloacinactl.cli.main import exit_now\nprint('x' * 5000, end='')\nexit_now(4)\n"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = _run(code, env=env)
    assert done.returncode == 4
    assert done.stdout == "x" * 5000


def test_atexit_callbacks_still_run() -> None:
    code = (
        "import atexit\n"
        "from cloacinactl.cli.main import exit_now\n"
        "atexit.register(lambda: print('cleaned up'))\n"
        "exit_now(3)\n"
    )
    done = _run(code)
    assert (done.returncode, done.stdout) == (3, "cleaned up\n")


def test_a_running_thread_is_waited_for() -> None:
    code = (
        "import threading, time\n"
        "from cloacinactl.cli.main import exit_now\n"
        "go = threading.Event()\n"
        "def work():\n"
        "    go.wait()\n"
        "    print('thread done', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "threading.Timer(0.05, go.set).start()\n"
        "exit_now(0)\n"
    )
    done = _run(code)
    assert (done.returncode, done.stdout) == (0, "thread done\n")


def test_installed_cli_output_survives_the_fast_exit(cli: Any) -> None:
    from cloacinactl.cli.completions import script

    done = cli("completions", "bash")  # ~10 kB through a pipe
    assert done.returncode == 0 and done.stdout == script("bash")
    assert cli("daemon", "health").returncode == 2


@pytest.mark.parametrize(("columns", "wrapped"), [("200", False), ("60", True)])
def test_help_follows_the_columns_variable(cli: Any, columns: str, wrapped: bool) -> None:
    text = cli("--help", env={"COLUMNS": columns}).stdout
    line = next(ln for ln in text.splitlines() if "--home HOME" in ln)
    assert line.rstrip().endswith("else ~/.cloacina).") is not wrapped
    assert max(len(ln) for ln in text.splitlines()) <= int(columns)

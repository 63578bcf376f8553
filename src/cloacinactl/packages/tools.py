"""Running a build tool: its own session, a stripped environment, scrubbed output.

Every tool (pip, cargo, the import sandbox) runs in its own session, is
killed as a group on timeout or when the caller cancels (``cancel.is_set()``,
which raises :class:`BuildCancelled`), and sees an environment without the
compiler's own variables (database URL, keys, ``CLOACINA_*``, anything named
like a secret). :class:`Scrubber` turns host paths into placeholders and the
values of secret-looking variables into ``***``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Variables no build tool sees (the compiler's own configuration and secrets).
_SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|AUTH|DSN)", re.I)
_DROPPED_PREFIXES = ("CLOACINA_", "DATABASE_", "PG", "RUST_LOG", "NOTIFY_SOCKET", "WATCHDOG_")
# What the import sandbox keeps of the environment.
_SANDBOX_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_REASON_LINES = 12


class BuildCancelled(Exception):
    """The caller asked the build to stop (the compiler is shutting down)."""


class Scrubber:
    """Removes build-host paths and secret values from tool output."""

    def __init__(
        self, paths: Mapping[str, str], environ: Mapping[str, str], extra: Iterable[str] = ()
    ) -> None:
        # longest first, so /tmp/x/y is replaced before /tmp/x
        self.paths = sorted(
            ((p, label) for p, label in paths.items() if p and p != "/"),
            key=lambda item: -len(item[0]),
        )
        values = [v for k, v in environ.items() if _SECRET_NAME.search(k) and len(v) >= 6]
        values += [v for v in extra if v and len(v) >= 6]
        self.secrets = sorted(set(values), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        for path, label in self.paths:
            text = text.replace(path, label)
        return re.sub(r"(://[^:/@\s]+:)[^@\s]*@", r"\1***@", text)


def tool_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of pip and cargo: the operator's, minus the compiler's secrets."""
    return {
        k: v
        for k, v in environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and not _SECRET_NAME.search(k)
    }


def sandbox_env(environ: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The import sandbox's environment: almost nothing, ``HOME`` in the scratch folder."""
    env = {k: environ[k] for k in _SANDBOX_KEEP if k in environ}
    env.update(
        HOME=str(scratch),
        TMPDIR=str(scratch),
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
    )
    return env


@dataclass(frozen=True)
class ToolResult:
    code: int
    output: str
    timed_out: bool


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    cancel: threading.Event | None = None,
    stdout_path: Path | None = None,
) -> ToolResult:
    """Run ``argv`` in its own session; stdout+stderr merged (or stdout to a file).

    The whole process group is killed on timeout, on cancel, and after the
    leader exits (nothing a tool started outlives it).
    """
    with tempfile.TemporaryFile() as err, contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout_path.open("wb")) if stdout_path else err
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        timed_out = False
        try:
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        raise BuildCancelled() from None
                    if time.monotonic() >= deadline:
                        timed_out = True
                        break
        finally:
            _kill_group(proc)
        err.seek(0)
        output = err.read().decode("utf-8", "replace")
    return ToolResult(proc.returncode, output, timed_out)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tail(text: str, lines: int = _REASON_LINES) -> str:
    """The last non-blank ``lines`` lines of ``text``, each trimmed."""
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])

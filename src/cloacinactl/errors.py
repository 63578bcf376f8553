"""The exception hierarchy that carries cloacinactl's exit codes.

Domain code raises these and lets them travel. :func:`run_main`, which the
entry point of ``cloacinactl`` and of each service program calls, is the one
place that turns an exception into a message on stderr and an exit status. The
codes are the fixed mapping of the CLI reference:

0 success, 1 user error (and internal errors), 2 network/transport failure,
3 not found (HTTP 404), 4 authentication (HTTP 401/403), 5 other server-side
rejection; 130 when interrupted by Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_OK = 0
EXIT_USER = 1
EXIT_TRANSPORT = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_REJECTED = 5


class CloacinaError(Exception):
    """Base of every error that maps to an exit code."""

    exit_code: int = EXIT_USER

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UserError(CloacinaError):
    """Bad flags, missing files, validation failure, local I/O failure (exit 1)."""

    exit_code = EXIT_USER


class UsageError(UserError):
    """The command line itself is wrong (exit 1, with usage shown)."""

    def __init__(self, message: str, *, usage: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.usage = usage


class ConfigError(UserError):
    """config.toml is malformed or holds an unknown key (exit 1)."""


class TransportError(CloacinaError):
    """Network/transport failure: unreachable socket, refused connection (exit 2)."""

    exit_code = EXIT_TRANSPORT


class NotFoundError(CloacinaError):
    """The resource does not exist (HTTP 404, exit 3)."""

    exit_code = EXIT_NOT_FOUND


class AuthError(CloacinaError):
    """Authentication or authorisation failed (HTTP 401/403, exit 4)."""

    exit_code = EXIT_AUTH


class ServerRejectedError(CloacinaError):
    """Any other server-side rejection (HTTP 4xx/5xx, exit 5)."""

    exit_code = EXIT_REJECTED


EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell shows for Ctrl-C


def leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [exc]


def first_cloacina_error(exc: BaseException) -> CloacinaError | None:
    """Our own error behind ``exc`` (trio's nurseries wrap it in groups), if any."""
    for item in leaves(exc):
        if isinstance(item, CloacinaError):
            return item
    return None


def exit_code(exc: BaseException) -> int:
    """The exit status a process ends with when ``exc`` reaches its entry point.

    Our own error (also inside an exception group) carries its code; a bare
    Ctrl-C is 130; a bare broken pipe (stdout closed by ``| head``) is success;
    anything else is an internal error, exit 1.
    """
    known = first_cloacina_error(exc)
    if known is not None:
        return known.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    return EXIT_USER


def report(exc: BaseException, *, verbose: bool = False) -> int:
    """Tell the user about ``exc`` on stderr; the exit status (:func:`exit_code`).

    ``error: <message>`` and ``hint: <hint>`` (with the usage line first for a
    usage error); ``-v`` adds the traceback.
    """
    code = exit_code(exc)
    err = sys.stderr
    known = first_cloacina_error(exc)
    if known is not None:
        if isinstance(known, UsageError) and known.usage:
            err.write(known.usage)
        print(f"error: {known.message}", file=err)
        if known.hint:
            print(f"hint: {known.hint}", file=err)
    elif isinstance(exc, KeyboardInterrupt):
        print("interrupted", file=err)
        return code
    elif isinstance(exc, BrokenPipeError):
        return code
    else:
        print(f"error: internal error: {leaves(exc)[0]}", file=err)
        if not verbose:
            print("hint: re-run with -v for a traceback", file=err)
    if verbose:
        import traceback  # only on this path: start-up cost

        traceback.print_exception(exc, file=err)
    return code


def run_main(body: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run an entry point's ``body(argv)``; the exit status. The only place errors
    become exit codes: ``cloacinactl`` and the three service programs all call it.

    ``argv`` defaults to ``sys.argv[1:]``; ``-v``/``--verbose`` in it adds
    tracebacks. ``SystemExit`` (``--help``, ``--version``) passes through.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    try:
        return body(args)
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, verbose=verbose)

"""The exception hierarchy that carries cloacinactl's exit codes.

Domain code raises these; only the CLI root (``cloacinactl.cli.main``) turns
them into a message on stderr and an exit status. The codes are the fixed
mapping of the CLI reference (ADR-0003 §6).
"""

from __future__ import annotations

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

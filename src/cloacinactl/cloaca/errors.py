"""Errors raised by the authoring API at import time (and by var/var_or at call time)."""

from __future__ import annotations

from cloacinactl.workflow.model import ModelError


class CloacaError(ModelError):
    """A workflow declaration is invalid; the message says what and where."""


class TransientError(Exception):
    """Raise (or subclass) this from a task to mark the failure as transient.

    Tasks whose retry condition is ``"transient"`` are retried only after
    transient failures: this error, ``TimeoutError``, ``ConnectionError``, a
    task timeout or a worker process that died under the task.
    """


class MissingVariableError(LookupError):
    """``cloaca.var(name)`` found no ``CLOACINA_VAR_<name>`` in the environment."""

    def __init__(self, name: str, env_name: str) -> None:
        super().__init__(
            f"workflow variable {name!r} is not set: export {env_name}=... "
            "(or use cloaca.var_or(name, default))"
        )
        self.name = name
        self.env_name = env_name

    def __str__(self) -> str:
        return str(self.args[0])


def is_transient_exception(exc: BaseException) -> bool:
    """The worker's classification of an exception for ``retry_condition="transient"``."""
    return isinstance(exc, (TransientError, TimeoutError, ConnectionError))

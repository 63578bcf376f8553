"""Task and trigger outcomes: the error vocabulary and JSON checks (pure).

Error ``kind`` values:

- ``exception``: the task raised (``exc_type``, ``message``, ``traceback``)
- ``bad_return``: the task returned something other than a Context, dict or None
- ``not_json``: the output (or a value in it) is not JSON
- ``bad_input``: the input context is not a JSON object
- ``secret_in_output``: the output holds the value of one of the task's secrets
- ``secret_unavailable``: a secret the task's workflow declares could not be
  resolved (not stored, not bound, or no key to open it)
- ``not_found``: no such task/trigger in the loaded source
- ``load_failed``: importing the source failed
- ``timeout``: the call ran past its timeout; the worker was killed and replaced
- ``crashed``: the worker process died during the call (``exit_code`` / ``signal``)
- ``memory_limit``: the worker grew past the pool's memory limit during the call;
  it was killed and replaced
- ``cancelled``: the pool stopped (shutdown) before the call finished
- ``protocol``: the worker answered something the pool could not understand

``transient`` marks errors the "transient" retry condition retries: timeouts,
``TimeoutError``/``ConnectionError`` and any exception class named
``TransientError`` in its MRO.
"""

from __future__ import annotations

import json
import math
import traceback
from dataclasses import dataclass
from typing import Any

from cloacinactl.jsonfast import JsonText
from cloacinactl.supervisor.exits import exit_description

from .memory import mib

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)


@dataclass(frozen=True)
class TaskError:
    """Why a task attempt (or trigger poll, or load) failed."""

    kind: str
    message: str
    exc_type: str | None = None
    traceback: str | None = None
    transient: bool = False
    exit_code: int | None = None
    signal: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "kind": self.kind,
            "message": self.message,
            "exc_type": self.exc_type,
            "traceback": self.traceback,
            "transient": self.transient,
            "exit_code": self.exit_code,
            "signal": self.signal,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskError:
        """Inverse of :meth:`to_dict`."""
        return cls(
            kind=str(data.get("kind", "protocol")),
            message=str(data.get("message", "")),
            exc_type=data.get("exc_type"),
            traceback=data.get("traceback"),
            transient=bool(data.get("transient", False)),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
        )

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def is_transient(exc: BaseException) -> bool:
    """Whether the "transient" retry condition covers this exception."""
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    return any(klass.__name__ == "TransientError" for klass in type(exc).__mro__)


def error_from_exception(kind: str, exc: BaseException, what: str) -> TaskError:
    """A TaskError for an exception raised by user code."""
    exc_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if exc_type.startswith("builtins."):
        exc_type = exc_type[len("builtins.") :]
    detail = str(exc) or exc_type
    return TaskError(
        kind=kind,
        message=f"{what} raised {exc_type}: {detail}",
        exc_type=exc_type,
        traceback="".join(traceback.format_exception(exc)),
        transient=is_transient(exc),
    )


def exit_how(returncode: int | None) -> str:
    """``exit 3``, ``killed by SIGKILL`` or ``did not exit``."""
    return "did not exit" if returncode is None else exit_description(returncode)


def call_failure(
    op: str,
    who: str,
    *,
    returncode: int | None,
    timeout: float | None,
    protocol_failure: str | None,
    stopped: bool,
    memory: tuple[int, int] | None = None,
) -> TaskError:
    """Why a call got no answer from its worker (``timeout`` is set when it timed out,
    ``memory`` = (limit MiB, RSS bytes) when the memory limit killed the worker)."""
    code = returncode if returncode is not None and returncode >= 0 else None
    signum = -returncode if returncode is not None and returncode < 0 else None
    if timeout is not None:
        return TaskError(
            "timeout",
            f"{op} did not finish within {timeout:g} s; {who} was killed and replaced",
            transient=True,
            exit_code=code,
            signal=signum,
        )
    if memory is not None:
        limit_mb, rss = memory
        return TaskError(
            "memory_limit",
            f"{who} exceeded the {limit_mb} MiB memory limit (RSS {mib(rss)} MiB) "
            f"during {op}; it was killed and replaced",
            exit_code=code,
            signal=signum,
        )
    if protocol_failure is not None:
        return TaskError("protocol", f"{who}: {protocol_failure}; it was killed and replaced")
    how = exit_how(returncode)
    if stopped:
        return TaskError("cancelled", f"the worker pool stopped during {op} ({who} {how})")
    return TaskError("crashed", f"{who} died during {op}: {how}", exit_code=code, signal=signum)


def json_problem(value: Any) -> str | None:
    """Where ``value`` stops being JSON (e.g. ``"at 'a.b[2]': datetime"``), or None.

    Every task's input and output go through this, so plain JSON is recognised
    first without building a path per element (three times faster on a 100 KB
    context); only a value that fails is walked again to say where. Stored JSON
    text (:class:`~cloacinactl.jsonfast.JsonText`) is JSON already."""
    if type(value) is JsonText:
        return None
    return None if _plain_json(value) else _where(value, "")


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is made of exactly dict/list/tuple/str/int/bool/None and finite
    floats (a subclass, such as a str enum, is left to :func:`_where` to judge)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        for key, item in value.items():  # loops: all() over a generator costs 1.6x
            if type(key) is not str or not _plain_json(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # noqa: SIM110 (the loop, as above)
            if not _plain_json(item):
                return False
        return True
    return False


def _where(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"at {path or '<root>'!r}: {value!r} (not finite)"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"at {path or '<root>'!r}: key {key!r} is a {type(key).__name__}"
            problem = _where(item, f"{path}.{key}" if path else key)
            if problem:
                return problem
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            problem = _where(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    return f"at {path or '<root>'!r}: {type(value).__name__} value {_short(value)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so the result holds only plain JSON types."""
    result = json.loads(json.dumps(value, allow_nan=False))
    assert isinstance(result, dict)
    return result

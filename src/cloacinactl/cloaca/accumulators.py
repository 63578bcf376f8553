"""Accumulator decorators and ``boundary_schema`` (computation-graph authoring)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.cloaca.graphset import AccumulatorSpec, graph_set
from cloacinactl.cloaca.trigger import parse_duration_ms
from cloacinactl.workflow.graphs.model import AccumulatorDef

F = TypeVar("F", bound=Callable[..., Any])
ACCUMULATOR_ATTR = "__cloaca_accumulator__"
SCHEMA_ATTR = "__cloaca_boundary_schema__"
_SCHEMA_TYPES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "dict",
    Any: "any",
}


def _register_accumulator(fn: Any, definition: AccumulatorDef) -> Any:
    if not callable(fn):
        raise CloacaError(f"an accumulator decorates a function, got {fn!r}")
    pending = getattr(fn, SCHEMA_ATTR, None)
    if pending is not None:
        definition = replace(definition, schema=pending)
    spec = AccumulatorSpec(definition, fn)
    found = graph_set()
    if found is not None:
        found.add_accumulator(spec)
    with contextlib.suppress(AttributeError, TypeError):
        setattr(fn, ACCUMULATOR_ATTR, spec)
    return fn


def _accumulator(kind: str, fn: Any, name: str | None, **params: Any) -> Any:
    acc_name = name if name is not None else getattr(fn, "__name__", None)
    if not isinstance(acc_name, str) or not acc_name:
        raise CloacaError(f"accumulator name must be a non-empty string, got {acc_name!r}")
    definition = AccumulatorDef(
        name=acc_name,
        kind=kind,
        module=str(getattr(fn, "__module__", "") or ""),
        qualname=str(getattr(fn, "__qualname__", acc_name)),
        **params,
    )
    return _register_accumulator(fn, definition)


def _decorator(kind: str, func: Any, name: str | None, **params: Any) -> Any:
    if func is not None:
        return _accumulator(kind, func, name, **params)

    def decorate(fn: F) -> F:
        result: F = _accumulator(kind, fn, name, **params)
        return result

    return decorate


def passthrough_accumulator(func: Any = None, /, *, name: str | None = None) -> Any:
    """Each event (through the function) is a boundary. Bare or called."""
    return _decorator("passthrough", func, name)


def state_accumulator(func: Any = None, /, *, capacity: int = -1, name: str | None = None) -> Any:
    """A rolling window of the ``capacity`` newest values is the boundary
    (negative: unbounded; 0: a write-only sink that never fires)."""
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise CloacaError(f"state_accumulator: capacity must be an integer, got {capacity!r}")
    return _decorator("state", func, name, capacity=capacity)


def batch_accumulator(
    func: Any = None,
    /,
    *,
    flush_interval: str | float | None = None,
    max_buffer_size: int | None = None,
    name: str | None = None,
) -> Any:
    """Values are buffered; the buffer is the boundary when it holds
    ``max_buffer_size`` values or ``flush_interval`` after its first one."""
    if flush_interval is None and max_buffer_size is None:
        raise CloacaError("batch_accumulator needs flush_interval=, max_buffer_size= or both")
    if max_buffer_size is not None and (
        isinstance(max_buffer_size, bool)
        or not isinstance(max_buffer_size, int)
        or max_buffer_size <= 0
    ):
        raise CloacaError(
            f"batch_accumulator: max_buffer_size must be a positive integer, got"
            f" {max_buffer_size!r}"
        )
    interval = None if flush_interval is None else parse_duration_ms(flush_interval)
    return _decorator(
        "batch", func, name, flush_interval_ms=interval, max_buffer_size=max_buffer_size
    )


def polling_accumulator(
    func: Any = None, /, *, interval: str | float = "1s", name: str | None = None
) -> Any:
    """The function is called every ``interval``; what it returns is the boundary
    (``None`` skips that tick). It cannot be injected into."""
    return _decorator("polling", func, name, interval_ms=parse_duration_ms(interval))


def stream_accumulator(*_args: Any, **_kwargs: Any) -> Any:
    """Upstream's Kafka-style accumulator: refused, never silently ignored."""
    raise CloacaError(
        "stream_accumulator (a Kafka-style event stream) is not supported by this runtime;"
        " use passthrough_accumulator and inject events, or polling_accumulator"
    )


def _schema_type(field_name: str, kind: Any) -> str:
    name = kind if isinstance(kind, str) else _SCHEMA_TYPES.get(kind)
    if name is None or name not in _SCHEMA_TYPES.values():
        raise CloacaError(
            f"boundary_schema: {field_name}= has unsupported type {kind!r};"
            " use str, int, float, bool, list or dict"
        )
    return name


def boundary_schema(**fields: Any) -> Callable[[F], F]:
    """Type an accumulator's events: ``@cloaca.boundary_schema(level=float)``,
    above or below the accumulator decorator. An injected event that does not
    match is refused, naming the field."""
    if not fields:
        raise CloacaError("boundary_schema needs at least one field=type")
    schema = tuple((name, _schema_type(name, kind)) for name, kind in fields.items())

    def decorate(fn: F) -> F:
        spec = getattr(fn, ACCUMULATOR_ATTR, None)
        if isinstance(spec, AccumulatorSpec):
            spec.definition = replace(spec.definition, schema=schema)
        else:
            try:
                setattr(fn, SCHEMA_ATTR, schema)
            except (AttributeError, TypeError):
                raise CloacaError(
                    f"boundary_schema cannot annotate {fn!r}; put it on the function"
                ) from None
        return fn

    return decorate

"""Accumulator and reactor state machines (pure; the state is one JSON document).

:class:`ReactorCore` is fed accumulator values in order (already transformed
by the accumulator's function) and says which firings they cause. Its
``state`` is what the runtime stores with the reactor's cursor, so a restart
resumes exactly where the last committed batch left off.

- passthrough: each value is a boundary;
- state: the value joins a rolling window (``capacity`` newest kept, negative
  unbounded, 0 keeps and emits nothing); the whole window is the boundary;
- batch: values are buffered; the buffer is the boundary when it reaches
  ``max_buffer_size`` or ``flush_interval_ms`` after its first value;
- polling: each polled value (None was already skipped) is a boundary.

Then the reactor: ``when_any`` fires on every new boundary, ``when_all`` once
every accumulator has one; ``latest`` hands each node the newest boundary per
accumulator (several boundaries of one batch of work collapse into one fire),
``sequential`` one fire per boundary (``when_all``: per complete set), in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloacinactl.workflow.graphs.model import AccumulatorDef, ReactorDef

Inputs = dict[str, Any]


def empty_state() -> dict[str, Any]:
    return {"cache": {}, "fresh": [], "queues": {}, "windows": {}, "batches": {}}


class ReactorCore:
    """One reactor and its accumulators; mutate through the methods only."""

    def __init__(
        self,
        reactor: ReactorDef,
        accumulators: Mapping[str, AccumulatorDef],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.reactor = reactor
        self.accumulators = dict(accumulators)
        base = empty_state()
        base.update({k: v for k, v in (state or {}).items() if k in base})
        self.state: dict[str, Any] = base
        self._pending: list[Inputs] = []  # latest: collapsed until take_fires()

    # -- accumulators
    def accept(self, name: str, value: Any, now_ms: float) -> None:
        """One accumulator value (``None`` from a function: dropped)."""
        if value is None:
            return
        acc = self.accumulators[name]
        if acc.kind == "state":
            capacity = acc.capacity if acc.capacity is not None else -1
            if capacity == 0:
                return
            window: list[Any] = self.state["windows"].setdefault(name, [])
            window.append(value)
            if capacity > 0 and len(window) > capacity:
                del window[: len(window) - capacity]
            self._boundary(name, list(window))
        elif acc.kind == "batch":
            batch = self.state["batches"].setdefault(name, {"items": [], "since_ms": None})
            if not batch["items"]:
                batch["since_ms"] = now_ms
            batch["items"].append(value)
            if acc.max_buffer_size is not None and len(batch["items"]) >= acc.max_buffer_size:
                self._flush(name)
        else:
            self._boundary(name, value)

    def flush_due(self, now_ms: float) -> None:
        """Flush every batch whose interval has passed."""
        for name, batch in list(self.state["batches"].items()):
            interval = self.accumulators[name].flush_interval_ms
            if batch["items"] and interval is not None and now_ms >= batch["since_ms"] + interval:
                self._flush(name)

    def next_flush_ms(self) -> float | None:
        due: list[float] = []
        for name, batch in self.state["batches"].items():
            interval = self.accumulators[name].flush_interval_ms
            if batch["items"] and interval is not None:
                due.append(batch["since_ms"] + interval)
        return min(due, default=None)

    def buffer_depth(self, name: str) -> int | None:
        kind = self.accumulators[name].kind
        if kind == "state":
            return len(self.state["windows"].get(name, []))
        if kind == "batch":
            return len(self.state["batches"].get(name, {}).get("items", []))
        return None

    def _flush(self, name: str) -> None:
        batch = self.state["batches"][name]
        items, batch["items"], batch["since_ms"] = batch["items"], [], None
        self._boundary(name, items)

    # -- the reactor
    def _boundary(self, name: str, value: Any) -> None:
        cache = self.state["cache"]
        fresh: list[str] = self.state["fresh"]
        sequential = self.reactor.input_strategy == "sequential"
        if self.reactor.mode == "when_any":
            cache[name] = value
            if sequential:
                self._pending.append(dict(cache))
            elif name not in fresh:
                fresh.append(name)
            return
        if sequential:
            self.state["queues"].setdefault(name, []).append(value)
            queues = self.state["queues"]
            if all(queues.get(a) for a in self.reactor.accumulators):
                for a in self.reactor.accumulators:
                    cache[a] = queues[a].pop(0)
                self._pending.append(dict(cache))
            return
        cache[name] = value
        if name not in fresh:
            fresh.append(name)

    def take_fires(self) -> list[Inputs]:
        """The firings caused since the last call, in order."""
        fires, self._pending = self._pending, []
        fresh: list[str] = self.state["fresh"]
        cache = self.state["cache"]
        complete = set(self.reactor.accumulators) <= set(fresh)
        if fresh and (self.reactor.mode == "when_any" or complete):
            fires.append(dict(cache))
            fresh.clear()
        return fires

    def replace_cache(self, inputs: Mapping[str, Any]) -> Inputs:
        """``fire_with``: the cache becomes ``inputs`` (full replace) and is returned."""
        self.state["cache"] = dict(inputs)
        self.state["fresh"] = []
        return dict(inputs)

    def current(self) -> Inputs:
        return dict(self.state["cache"])

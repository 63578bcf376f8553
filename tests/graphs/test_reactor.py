"""The accumulator and reactor state machines (pure)."""

from __future__ import annotations

from cloacinactl.engine.graphs.reactor import ReactorCore
from cloacinactl.workflow.graphs.model import AccumulatorDef, ReactorDef


def core(mode: str, strategy: str, **accs: AccumulatorDef) -> ReactorCore:
    reactor = ReactorDef("r", tuple(accs), mode, strategy)
    return ReactorCore(reactor, accs)


def test_when_any_latest_folds_and_sequential_fires_per_boundary() -> None:
    a = AccumulatorDef("a", "passthrough")
    latest = core("when_any", "latest", a=a)
    for n in range(3):
        latest.accept("a", n, 0)
    assert latest.take_fires() == [{"a": 2}]
    assert latest.take_fires() == []
    seq = core("when_any", "sequential", a=a)
    for n in range(3):
        seq.accept("a", n, 0)
    assert seq.take_fires() == [{"a": 0}, {"a": 1}, {"a": 2}]


def test_when_all_waits_for_every_accumulator() -> None:
    a, b = AccumulatorDef("a", "passthrough"), AccumulatorDef("b", "passthrough")
    latest = core("when_all", "latest", a=a, b=b)
    latest.accept("a", 1, 0)
    assert latest.take_fires() == []
    latest.accept("a", 2, 0)
    latest.accept("b", "x", 0)
    assert latest.take_fires() == [{"a": 2, "b": "x"}]
    seq = core("when_all", "sequential", a=a, b=b)
    for v in (1, 2):
        seq.accept("a", v, 0)
    seq.accept("b", "x", 0)
    seq.accept("b", "y", 0)
    assert seq.take_fires() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def test_state_window_and_sink() -> None:
    window = AccumulatorDef("w", "state", capacity=2)
    c = core("when_any", "sequential", w=window)
    for v in (1, 2, 3):
        c.accept("w", v, 0)
    assert c.take_fires() == [{"w": [1]}, {"w": [1, 2]}, {"w": [2, 3]}]
    assert c.buffer_depth("w") == 2
    sink = core("when_any", "latest", s=AccumulatorDef("s", "state", capacity=0))
    sink.accept("s", 1, 0)
    assert sink.take_fires() == []


def test_batch_flushes_on_size_or_interval_and_state_round_trips() -> None:
    batch = AccumulatorDef("b", "batch", flush_interval_ms=1000, max_buffer_size=3)
    c = core("when_any", "sequential", b=batch)
    for v in (1, 2, 3, 4):
        c.accept("b", v, 100)
    assert c.take_fires() == [{"b": [1, 2, 3]}]
    assert c.next_flush_ms() == 1100
    c.flush_due(1099)
    assert c.take_fires() == []
    restored = ReactorCore(c.reactor, c.accumulators, c.state)  # what a restart reads back
    restored.flush_due(1100)
    assert restored.take_fires() == [{"b": [4]}]
    assert restored.next_flush_ms() is None

"""Execution ids are version-7 UUIDs: ordered by creation time, random below it."""

from __future__ import annotations

import random
import uuid

from cloacinactl.engine.ids import execution_id


def test_ids_are_uuid7_ordered_by_their_millisecond() -> None:
    rng = random.Random(1)
    earlier = execution_id(rng, now_ns=1_765_000_000_000_000_000)
    later = execution_id(rng, now_ns=1_765_000_000_001_000_000)  # one millisecond on
    for text in (earlier, later):
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert earlier < later  # as text too: indexes keep them in creation order
    assert int(uuid.UUID(earlier)) >> 80 == 1_765_000_000_000  # the Unix millisecond


def test_ids_of_one_millisecond_differ() -> None:
    rng = random.Random()
    same_ms = {execution_id(rng, now_ns=1_765_000_000_000_000_000) for _ in range(10_000)}
    assert len(same_ms) == 10_000

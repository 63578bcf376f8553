"""Every supervisor test fails if a SupervisedChild made a state move its table forbids."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger


@pytest.fixture(autouse=True)
def no_illegal_state_moves() -> Iterator[None]:
    seen: list[str] = []

    def sink(message: Any) -> None:
        seen.append(message.record["message"])

    handler = logger.add(
        sink, level="WARNING", filter=lambda r: "illegal state move" in r["message"]
    )
    try:
        yield
    finally:
        # Tests of the logging set-up replace every handler (ours too).
        with contextlib.suppress(ValueError):
            logger.remove(handler)
    assert seen == []

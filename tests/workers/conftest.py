"""Fixtures for the worker tests: a real WorkerPool over the test flows folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psutil
import pytest
import trio
from loguru import logger

from cloacinactl.workers import ModuleSource, TaskRequest, WorkerPool

FLOWS = Path(__file__).parent / "flows"
BASIC = ModuleSource("wf_basic", (str(FLOWS),))

MakeRequest = Callable[..., TaskRequest]


@pytest.fixture
def request_for() -> MakeRequest:
    """Build a TaskRequest for a function of ``wf_basic``."""

    def make(task: str, context: dict[str, object] | None = None, **kw: object) -> TaskRequest:
        return TaskRequest(
            source=kw.pop("source", BASIC),
            workflow="wf",
            task_id=task,
            context=context or {},
            execution_id=str(kw.pop("execution_id", "exec-1")),
            attempt=int(kw.pop("attempt", 1)),
            timeout=kw.pop("timeout", 20.0),
            function=kw.pop("function", None),
        )

    return make


def worker_pids() -> set[int]:
    """PIDs of every descendant of this test process."""
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture
def counter_file(tmp_path: Path) -> Path:
    """A file each import of wf_basic appends its PID to."""
    return tmp_path / "imports.txt"


@pytest.fixture
async def pool(nursery: trio.Nursery, counter_file: Path) -> AsyncIterator[WorkerPool]:
    """Two workers, ready; stopped (and checked gone) after the test."""
    env = {
        **os.environ,
        "WF_IMPORT_COUNTER": str(counter_file),
        "WF_CALLBACKS": str(counter_file.parent / "callbacks.txt"),
    }
    pool = WorkerPool(size=2, service="cloacina-test", grace_s=1.0, env=env)
    await nursery.start(pool.serve)
    try:
        yield pool
    finally:
        await pool.stop()


@pytest.fixture(autouse=True)
def no_illegal_state_moves() -> Iterator[None]:
    """Fail the test if a worker's SupervisedChild made a move its state table forbids."""
    seen: list[str] = []
    handler = logger.add(
        lambda message: seen.append(message.record["message"]),
        level="WARNING",
        filter=lambda r: "illegal state move" in r["message"],
    )
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            logger.remove(handler)
    assert seen == []

"""Secrets reach tasks beside the context and never come back in what an attempt reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))  # the ``secret_flows`` task module

import secret_flows

from cloacinactl.engine.runner import Runner
from cloacinactl.engine.secretsource import StaticSecrets
from cloacinactl.engine.taskrun import InProcessTaskRunner

from .conftest import FAST

VALUE = "pa55-word-7f3a9c"
ROTATED = "rotated-9911-zz"


class Rotating(StaticSecrets):
    """A source whose value can change between attempts (a rotation)."""

    def __init__(self) -> None:
        super().__init__({"prod-db": {"password": VALUE, "user": "svc"}})
        self.current = VALUE

    def lookup(self, conn: Any, name: str) -> dict[str, str] | None:
        return {"password": self.current, "user": "svc"} if name == "prod-db" else None


def dump_database(runner: Runner) -> str:
    """Every row of every table, as text."""

    def read(conn: Any) -> str:
        names = [
            r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        ]
        return json.dumps(
            {
                n: [list(map(str, row)) for row in conn.execute(text(f'SELECT * FROM "{n}"'))]
                for n in names
            }
        )

    return runner.store.read(read)


async def run(runner: Runner, name: str, function: str, context: dict[str, Any]) -> Any:
    await runner.aregister(secret_flows.workflow(name, function), secret_flows.CODE)
    return await runner.aexecute(name, context, timeout=30)


@pytest.mark.parametrize("pool", [False, True], ids=["in-process", "worker-pool"])
async def test_values_reach_the_task_and_nothing_stores_them(tmp_path: Path, pool: bool) -> None:
    source = Rotating()
    runner = Runner(
        f"sqlite:///{tmp_path / 'c.db'}",
        config=FAST,
        workers=1,
        task_runner=None if pool else InProcessTaskRunner(),
        secrets=source,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        bound = {"db": {"$secret": "prod-db"}}
        ok = await run(runner, "uses", "uses", bound)
        assert ok.status == "Completed", ok.tasks
        assert ok.output["password_length"] == len(VALUE)
        assert ok.output["fields"] == ["password", "user"]
        assert ok.output["db"] == {"$secret": "prod-db"}  # the binding, never the value

        leaked = await run(runner, "leaks", "leaks", bound)
        assert leaked.status == "Failed"
        assert "holds the value of secret slot 'db'" in (leaked.tasks["leaks"].error or "")

        raised = await run(runner, "raises", "raises", bound)
        assert raised.status == "Failed"
        assert "login refused for ***" in (raised.tasks["raises"].error or "")

        field = await run(runner, "field", "missing_field", bound)
        assert "has no field 'nope' (fields: password, user)" in (
            field.tasks["missing_field"].error or ""
        )

        unbound = await run(runner, "unbound", "uses", {})  # slot 'db' names secret 'db'
        assert "secret 'db' (bound to slot 'db') is not stored" in (
            unbound.tasks["uses"].error or ""
        )

        source.current = ROTATED  # the next run reads the new value
        again = await runner.aexecute("uses", bound, timeout=30)
        assert again.output["password_length"] == len(ROTATED)
        events = await runner.events(ok.execution_id)
        stored = dump_database(runner)
        await runner.ashutdown(5)
    if pool:  # the worker's captured stdout and log records reached the events, masked
        captured = json.dumps(events, default=str)
        assert "connecting with ***" in captured and "password is ***" in captured
    assert VALUE not in stored and ROTATED not in stored
    assert "prod-db" in stored  # the binding itself is kept: it names what ran


async def test_without_a_source_a_secret_workflow_fails_its_task(tmp_path: Path) -> None:
    runner = Runner(
        f"sqlite:///{tmp_path / 'c.db'}", config=FAST, task_runner=InProcessTaskRunner()
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        result = await run(runner, "uses", "uses", {})
        await runner.ashutdown(5)
    assert result.status == "Failed"
    assert "declares secrets; none are configured" in (result.tasks["uses"].error or "")


async def test_output_of_a_killed_worker_is_masked_too(tmp_path: Path) -> None:
    runner = Runner(f"sqlite:///{tmp_path / 'c.db'}", config=FAST, workers=1, secrets=Rotating())
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        await runner.aregister(
            secret_flows.workflow("hangs", "hangs", timeout_s=1.0), secret_flows.CODE
        )
        result = await runner.aexecute("hangs", {"db": {"$secret": "prod-db"}}, timeout=60)
        events = json.dumps(await runner.events(result.execution_id), default=str)
        await runner.ashutdown(5)
    assert result.status == "Failed" and "timeout" in (result.tasks["hangs"].error or "")
    assert "about to hang with ***" in events and VALUE not in events


async def test_resolution_on_each_backend(db_url: str) -> None:
    runner = Runner(db_url, config=FAST, task_runner=InProcessTaskRunner(), secrets=Rotating())
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        ok = await run(runner, "uses", "uses", {"db": {"$secret": "prod-db"}})
        missing = await run(runner, "other", "uses", {"db": {"$secret": "absent"}})
        await runner.ashutdown(5)
        runner.store.close()
    assert ok.output["password_length"] == len(VALUE)
    assert "secret 'absent' (bound to slot 'db') is not stored" in (
        missing.tasks["uses"].error or ""
    )

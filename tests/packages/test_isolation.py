"""Packages sharing one worker each see their own modules when their code runs.

Every test loads real packed ``.cloacina`` archives into a pool of ONE worker
(so they share its ``sys.modules`` and ``sys.path``) and runs tasks through the
production ``PoolTaskRunner``; the tasks import their helpers lazily, inside
the task body, so what they get depends on what is imported when they run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from cloacinactl.engine.pooled import PoolTaskRunner
from cloacinactl.engine.taskrun import TaskRequest
from cloacinactl.packages import LoadedPackage, PackageLoader, pack_dir
from cloacinactl.packages.importer import MARK
from cloacinactl.workers import ModuleSource, PoolImporter, WorkerPool, source_from_dict
from cloacinactl.workers import TaskRequest as PoolRequest

from .conftest import write_package

# The task reports what each way of importing lazily finds, and where the worker
# would look first for anything else.
LAZY_TASKS = """\
import os
import sys

import cloaca

MARK = {mark!r}


@cloaca.task(id="value")
def value(context):
    import importlib

    import helpers
    from helpers import VALUE

    return {
        "import": helpers.VALUE,
        "from": VALUE,
        "import_module": importlib.import_module("helpers").VALUE,
        "path0": sys.path[0],
        "pid": os.getpid(),
    }


@cloaca.task(id="vendored")
def vendored(context):
    from somelib.core import WHO

    import somelib

    return {"who": WHO, "version": somelib.VERSION}


@cloaca.task(id="first_use")
def first_use(context):
    # lazyhelp is imported for the first time here, at call time
    import lazyhelp

    lazyhelp.CALLS.append(1)
    return {"value": lazyhelp.VALUE, "calls": len(lazyhelp.CALLS)}


@cloaca.task(id="lose_marker")
def lose_marker(context):
    # what a task that tidies sys.modules might do to the switch's bookkeeping
    sys.modules.pop(MARK, None)
    import lazyhelp

    lazyhelp.CALLS.append(1)
    return {"value": lazyhelp.VALUE, "calls": len(lazyhelp.CALLS)}


@cloaca.task(id="site_idna")
def site_idna(context):
    import idna

    idna.CALLS = getattr(idna, "CALLS", 0) + 1  # counts on the module object itself
    return {
        "who": getattr(idna, "WHO", "site-packages"),
        "file": idna.__file__,
        "calls": idna.CALLS,
    }


@cloaca.trigger(poll_interval="5s")
def helper_says():
    import helpers

    return cloaca.TriggerResult.fire(dict(value=helpers.VALUE))
"""


def package_files(tag: str, *, vendor_idna: bool = False) -> dict[str, str]:
    """helpers, lazyhelp and vendor/somelib that tell which package they belong to."""
    files = {
        "workflow/helpers.py": f"VALUE = {tag!r}\n",
        "workflow/lazyhelp.py": f"VALUE = {tag!r}\nCALLS = []\n",
        "vendor/somelib/__init__.py": f"VERSION = {tag!r}\n",
        "vendor/somelib/core.py": f"WHO = 'somelib of ' + {tag!r}\n",
    }
    if vendor_idna:
        files["vendor/idna/__init__.py"] = f"WHO = 'idna vendored by ' + {tag!r}\n"
    return files


@pytest.fixture
async def one_worker(nursery: trio.Nursery) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool(1, service="cloacina-test", grace_s=1.0)
    await nursery.start(pool.serve)
    try:
        yield pool
    finally:
        await pool.stop()


class Packages:
    """Packs package folders and loads the archives into the one worker."""

    def __init__(self, pool: WorkerPool, tmp_path: Path) -> None:
        self.pool = pool
        self.tmp_path = tmp_path
        self.runner = PoolTaskRunner(pool)
        self.loader = PackageLoader(tmp_path / "cache", import_timeout=20)

    async def load(self, name: str, tag: str, *, version: str = "1.0.0", **kw: Any) -> Any:
        parent = self.tmp_path / "src" / f"{name}-{version}"
        root = write_package(
            parent,
            name,
            version=version,
            tasks=LAZY_TASKS.replace("{mark!r}", repr(MARK)),
            extra=package_files(tag, **kw),
        )
        archive = pack_dir(root, self.tmp_path / f"{name}-{version}.cloacina").path
        return await self.loader.aload(archive, PoolImporter(self.pool))

    async def run(self, package: LoadedPackage, task: str) -> dict[str, Any]:
        workflow = package.manifest.workflow_name
        request = TaskRequest("exec", workflow, task, 1, {}, package.source(), timeout_s=20)
        outcome = await self.runner.run_task(request)
        assert outcome.ok, outcome.error
        assert outcome.output is not None
        return outcome.output


@pytest.fixture
def packages(one_worker: WorkerPool, tmp_path: Path) -> Packages:
    return Packages(one_worker, tmp_path)


async def test_workflow_helpers_stay_per_package(packages: Packages) -> None:
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")  # imported last: its helpers were imported last
    seen = [await packages.run(p, "value") for p in (a, b, a, b, a)]
    assert len({output["pid"] for output in seen}) == 1  # one worker served them all
    for package, output, tag in zip((a, b, a, b, a), seen, "ABABA", strict=True):
        assert (output["import"], output["from"], output["import_module"]) == (tag, tag, tag)
        assert output["path0"] == str(package.root / "workflow")


async def test_vendored_library_stays_per_package(packages: Packages) -> None:
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")
    for package, tag in zip((a, b, a, b), "ABAB", strict=True):
        assert await packages.run(package, "vendored") == {
            "who": f"somelib of {tag}",
            "version": tag,
        }


async def test_two_versions_of_one_package(packages: Packages) -> None:
    """A rolling replace: v1's in-flight task must not get v2's helpers."""
    v1 = await packages.load("rolling", "v1", version="1.0.0")
    v2 = await packages.load("rolling", "v2", version="2.0.0")
    assert v1.manifest.workflow_name == v2.manifest.workflow_name
    for package, tag in ((v1, "v1"), (v2, "v2"), (v1, "v1"), (v2, "v2")):
        output = await packages.run(package, "value")
        assert (output["import"], output["from"], output["import_module"]) == (tag, tag, tag)
        assert await packages.run(package, "vendored") == {
            "who": f"somelib of {tag}",
            "version": tag,
        }


async def test_module_first_imported_at_call_time_is_kept(packages: Packages) -> None:
    """The module a task imported lazily comes back (the same object) on its next turn."""
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")
    seen = [await packages.run(p, "first_use") for p in (a, b, a, b, a)]
    assert seen == [
        {"value": "A", "calls": 1},
        {"value": "B", "calls": 1},
        {"value": "A", "calls": 2},
        {"value": "B", "calls": 2},
        {"value": "A", "calls": 3},
    ]


async def test_batched_attempts_switch_between_packages(packages: Packages) -> None:
    """Several attempts in one worker round trip (the daemon's path), interleaved."""
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")
    order = [a, b, a, b, b, a]
    requests = [
        TaskRequest(f"e{i}", p.manifest.workflow_name, "value", 1, {}, p.source(), timeout_s=20)
        for i, p in enumerate(order)
    ]
    outcomes: dict[int, Any] = {}
    await packages.runner.run_tasks(requests, outcomes.__setitem__)
    assert [outcomes[i].output["import"] for i in range(len(order))] == list("ABABBA")


async def test_trigger_polls_see_their_own_helpers(packages: Packages) -> None:
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")
    for package, tag in zip((a, b, a, b), "ABAB", strict=True):
        poll = await packages.pool.poll_trigger(source_from_dict(package.source()), "helper_says")
        assert poll.ok, poll.error
        assert (poll.fire, poll.context) == (True, {"value": tag})


async def test_vendored_copy_does_not_leak_into_other_packages(packages: Packages) -> None:
    """pkg-a vendors its own ``idna``; pkg-b (loaded later) uses the installed one."""
    a = await packages.load("pkg-a", "A", vendor_idna=True)
    b = await packages.load("pkg-b", "B")
    for calls in (1, 2, 3):
        mine = await packages.run(a, "site_idna")
        theirs = await packages.run(b, "site_idna")
        assert mine["who"] == "idna vendored by A"
        assert Path(mine["file"]).is_relative_to(a.root / "vendor")
        assert theirs["who"] == "site-packages"
        assert not Path(theirs["file"]).is_relative_to(a.root)
        # each keeps its one module object: the installed idna is never imported again
        assert mine["calls"] == theirs["calls"] == calls


async def test_failed_import_leaves_loaded_packages_intact(packages: Packages) -> None:
    a = await packages.load("pkg-a", "A")
    assert (await packages.run(a, "value"))["import"] == "A"
    root = write_package(
        packages.tmp_path / "src" / "broken",
        "broken",
        tasks="import helpers\nraise RuntimeError('half imported')\n",
        extra={"workflow/helpers.py": "VALUE = 'broken'\n"},
    )
    archive = pack_dir(root, packages.tmp_path / "broken.cloacina").path
    with pytest.raises(Exception, match="half imported"):
        await packages.loader.aload(archive, PoolImporter(packages.pool))
    output = await packages.run(a, "value")
    assert (output["import"], output["path0"]) == ("A", str(a.root / "workflow"))


async def test_lost_bookkeeping_falls_back_to_a_full_look(packages: Packages) -> None:
    """A task that drops the switch's marker from sys.modules costs a slower switch, no leak."""
    a = await packages.load("pkg-a", "A")
    b = await packages.load("pkg-b", "B")
    assert await packages.run(a, "lose_marker") == {"value": "A", "calls": 1}
    assert await packages.run(b, "first_use") == {"value": "B", "calls": 1}
    assert await packages.run(a, "first_use") == {"value": "A", "calls": 2}
    assert await packages.run(b, "lose_marker") == {"value": "B", "calls": 2}
    assert await packages.run(a, "first_use") == {"value": "A", "calls": 3}


async def test_module_source_in_between_keeps_the_package_first(
    packages: Packages, tmp_path: Path
) -> None:
    """A module source (not switched) may run in the same worker; the package's next
    call still has its own roots first."""
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "plain_flow.py").write_text(
        "import sys\n\ndef where(ctx):\n    return {'path0': sys.path[0]}\n"
    )
    plain = ModuleSource("plain_flow", (str(folder),))
    a = await packages.load("pkg-a", "A")
    assert (await packages.run(a, "value"))["path0"] == str(a.root / "workflow")
    result = await packages.pool.run_task(PoolRequest(plain, "plain", "where", {}))
    assert result.output == {"path0": str(folder)}
    output = await packages.run(a, "value")
    assert (output["import"], output["path0"]) == ("A", str(a.root / "workflow"))

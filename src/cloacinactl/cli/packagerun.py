"""``package run``: run one workflow of a package once, on a throw-away SQLite database.

The package is loaded exactly as the daemon would (safe unpack, manifest,
import in a subprocess), then a :class:`~cloacinactl.engine.runner.Runner` on
a temporary SQLite file executes the workflow; task code runs in the
Runner's worker processes, never in this one. Everything temporary is
removed afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloacinactl.packages.errors import PackageError

if TYPE_CHECKING:
    from cloacinactl.packages.loader import LoadedPackage
    from cloacinactl.store.executions import ExecutionResult
    from cloacinactl.workflow import InputCheck

MAX_WORKERS = 4


def captured_output(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Task id → the stdout/stderr each attempt produced (from the execution's events)."""
    captured: dict[str, list[str]] = {}
    for event in events:
        data = event.get("event_data")
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError:
                continue
        if event.get("event_type") not in ("task_completed", "task_failed"):
            continue
        if not isinstance(data, dict):
            continue
        text = (str(data.get("stdout") or "") + str(data.get("stderr") or "")).strip()
        if text:
            captured.setdefault(str(event.get("task_name")), []).append(text)
    return captured


def read_context(source: str | None) -> dict[str, Any]:
    """The input context: ``None`` → ``{}``, ``-`` → stdin, else a JSON file; an object."""
    if source is None:
        return {}
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except OSError as exc:
        raise PackageError(f"cannot read context file {source}: {exc.strerror}") from exc
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise PackageError(f"--context {source}: invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise PackageError(f"--context {source}: the context must be a JSON object")
    return value


def pick_workflow(loaded: LoadedPackage, wanted: str | None) -> str:
    names = [wf["name"] for wf in loaded.description.get("workflows", [])]
    if wanted is not None:
        if wanted not in names:
            raise PackageError(
                f"package {loaded.manifest.name} has no workflow '{wanted}'",
                hint="it declares: " + (", ".join(names) or "none"),
            )
        return wanted
    if not names:
        raise PackageError(f"package {loaded.manifest.name} declares no workflow")
    if len(names) > 1:
        raise PackageError(
            f"package {loaded.manifest.name} declares {len(names)} workflows",
            hint="choose one with --workflow: " + ", ".join(names),
        )
    return str(names[0])


async def execute(
    loaded: LoadedPackage,
    workflow: str,
    context: dict[str, Any],
    database: Path,
    timeout: float,
    secrets: dict[str, dict[str, str]] | None = None,
) -> tuple[ExecutionResult, dict[str, list[str]]]:
    """Register the package's workflows on a fresh Runner and run ``workflow`` once."""
    import trio

    from cloacinactl.engine.runner import Runner
    from cloacinactl.engine.secretsource import StaticSecrets

    tasks = next(len(w["tasks"]) for w in loaded.description["workflows"] if w["name"] == workflow)
    size = max(1, min(MAX_WORKERS, os.cpu_count() or 1, tasks))
    # The Runner starts its own worker pool: task code never runs in this process.
    runner = Runner(
        f"sqlite:///{database}",
        workers=size,
        service="cloacina-run",
        secrets=None if secrets is None else StaticSecrets(secrets),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(runner.serve)
        try:
            for wf in loaded.workflows():
                await runner.aregister(wf, code=loaded.source())
            try:
                result = await runner.aexecute(workflow, context, timeout=timeout)
            except trio.TooSlowError:
                raise PackageError(f"the execution did not finish within {timeout:g}s") from None
            events = await runner.events(result.execution_id)
        finally:
            await runner.ashutdown(deadline_s=5.0)
            nursery.cancel_scope.cancel()
    return result, captured_output(events)


def checked_context(loaded: LoadedPackage, workflow: str, context: dict[str, Any]) -> InputCheck:
    """The input checked against the workflow's declared params and secret slots;
    a bad input is a PackageError naming every problem (nothing runs)."""
    from cloacinactl.workflow import check_input

    definition = next(wf for wf in loaded.workflows() if wf.name == workflow)
    checked = check_input(definition.params, definition.secrets, context)
    if not checked.ok:
        declared = [
            f"{p.name} ({p.type}{'' if p.required else ', optional'})" for p in definition.params
        ]
        declared += [f"{s} (secret)" for s in definition.secrets]
        raise PackageError(
            checked.message(workflow),
            hint="it declares: " + ", ".join(declared) + "; pass them with --context FILE",
        )
    return checked


def bound_secrets(
    checked: InputCheck, secrets_file: Path | None
) -> dict[str, dict[str, str]] | None:
    """The secrets the run's slots are bound to, from ``--secrets-file``; every bound
    name must be in it (checked before anything runs)."""
    if not checked.bindings:
        return None
    slots = ", ".join(checked.bindings)
    if secrets_file is None:
        raise PackageError(
            f"the workflow declares secret slots ({slots}) and no secrets file was given",
            hint='pass --secrets-file FILE (mode 0600) holding {"<name>": {"<field>": "..."}}',
        )
    from cloacinactl.config.secretsfile import read_secrets_file

    stored = read_secrets_file(secrets_file)
    missing = [
        f"{name!r} (slot {slot!r})" for slot, name in checked.bindings.items() if name not in stored
    ]
    if missing:
        raise PackageError(
            f"secrets file {secrets_file} has no secret " + ", ".join(missing),
            hint='bind a slot to another name with {"<slot>": {"$secret": "<name>"}} in --context',
        )
    return {name: stored[name] for name in set(checked.bindings.values())}


def run_loaded(
    loaded: LoadedPackage,
    workflow: str | None,
    context: dict[str, Any],
    timeout: float,
    secrets_file: Path | None = None,
) -> tuple[ExecutionResult, dict[str, list[str]]]:
    """Blocking wrapper: check the input (params, secret bindings), then run on a temp
    SQLite database that is removed afterwards."""
    import trio

    name = pick_workflow(loaded, workflow)
    checked = checked_context(loaded, name, context)
    secrets = bound_secrets(checked, secrets_file)
    with tempfile.TemporaryDirectory(prefix="cloacina-run-db-") as tmp:
        database = Path(tmp) / "run.db"
        return trio.run(execute, loaded, name, checked.context, database, timeout, secrets)

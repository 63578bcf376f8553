"""``package new``: a small, working Python package to start from."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from cloacinactl.packages.errors import PackageError

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

MANIFEST = """\
[package]
name = "{name}"
version = "0.1.0"
interface = "cloacina-workflow-plugin"
interface_version = 1
extension = "cloacina"

[metadata]
language = "python"
workflow_name = "{module}"
entry_module = "{module}.tasks"
description = "The {name} workflow"
"""

TASKS = '''\
"""The {module} workflow: extract -> summarize, run every hour by a cron trigger.

Tasks register on import into the workflow named by metadata.workflow_name in
package.toml. Each task receives the execution's Context, reads and writes
JSON values on it, and returns it.
"""

import cloaca


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    """Stage the input records (from the run's context, or a default batch)."""
    records = context.get("records") or [3, 5, 8]
    context.set("records", records)
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    """Summarise what extract staged."""
    records = context.get("records") or []
    context.set("summary", {{"count": len(records), "total": sum(records)}})
    return context


@cloaca.trigger(on="{module}", cron="0 * * * *")
def hourly():
    """Start {module} at the top of every hour (the cron trigger's body is unused)."""
'''

README = """\
# {name}

A Cloacina workflow package. Try it with
`cloacinactl package build {name} && cloacinactl package run {name}`, then ship it with
`cloacinactl package pack {name} -o {name}.cloacina`.
"""


def module_name(name: str) -> str:
    return name.replace("-", "_")


def scaffold(parent: Path, name: str) -> Path:
    """Create ``<parent>/<name>/`` with a manifest, two dependent tasks and a cron trigger."""
    if not _NAME.match(name):
        raise PackageError(
            f"invalid package name '{name}'",
            hint="use lower-case letters, digits, '-' and '_', starting with a letter",
        )
    target = parent / name
    if target.exists():
        raise PackageError(f"{target} already exists")
    module = module_name(name)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        (tmp / "package.toml").write_text(MANIFEST.format(name=name, module=module))
        (tmp / "README.md").write_text(README.format(name=name))
        package = tmp / "workflow" / module
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "tasks.py").write_text(TASKS.format(module=module))
        tmp.chmod(0o755)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target

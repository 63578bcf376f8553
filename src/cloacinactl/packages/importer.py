"""Import a package's entry module INSIDE a worker (or throw-away) process.

Never call :func:`import_package` in a service's supervisor process: it runs
user code. It puts ``<root>/workflow`` then ``<root>/vendor`` first on
``sys.path``, makes ``import cloaca`` resolve to :mod:`cloacinactl.cloaca`,
refuses a package whose import roots would shadow a standard-library module,
and imports ``entry_module`` inside the ``cloaca`` collector so every task
and trigger declared at import time is recorded.

``python -m cloacinactl.packages.importer ROOT`` does the same in a fresh
process and prints one JSON document on stdout: ``{"ok": true,
"description": {...}}`` or ``{"ok": false, "error": "...", "kind": "..."}``.
Anything the package prints while importing goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from cloacinactl.packages.errors import ImportFailedError, PackageError
from cloacinactl.packages.manifest import Manifest, load_manifest

IMPORT_ROOTS = ("workflow", "vendor")
# Names a package may never provide at the top of an import root besides the stdlib.
RESERVED = frozenset({"cloacinactl"})
_MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def import_roots(root: Path) -> list[Path]:
    """The package's import roots that exist, in import order."""
    return [root / name for name in IMPORT_ROOTS if (root / name).is_dir()]


def top_level_names(folder: Path) -> dict[str, str]:
    """Module name → entry name for what ``folder`` provides at its top level."""
    names: dict[str, str] = {}
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if path.is_dir():
            if entry.isidentifier():
                names.setdefault(entry, entry + "/")
            continue
        for suffix in _MODULE_SUFFIXES:
            if entry.endswith(suffix):
                module = entry[: -len(suffix)].split(".", 1)[0]
                if module.isidentifier():
                    names.setdefault(module, entry)
    return names


def check_shadowing(root: Path) -> None:
    """Refuse a package that would replace a standard-library module (e.g. ``os.py``)."""
    for folder in import_roots(root):
        for module, entry in top_level_names(folder).items():
            if module in sys.stdlib_module_names or module in RESERVED:
                raise PackageError(
                    f"{folder.name}/{entry} would shadow the standard-library module '{module}'",
                    hint="rename it; a package may not replace standard modules",
                )


def _evict(names: set[str]) -> None:
    """Forget modules a previously imported package provided under the same names."""
    for loaded in list(sys.modules):
        if loaded.split(".", 1)[0] in names:
            del sys.modules[loaded]


def _install_cloaca() -> None:
    import cloacinactl.cloaca as cloaca

    sys.modules["cloaca"] = cloaca


def describe(manifest: Manifest, collection: Any) -> dict[str, Any]:
    """The JSON-able description of what the import declared."""
    workflows = [wf.to_dict() for wf in collection.workflows.values()]
    triggers = [trigger.to_dict() for trigger in collection.triggers]
    return {"manifest": manifest.to_dict(), "workflows": workflows, "triggers": triggers}


def _import_error(manifest: Manifest, exc: BaseException) -> ImportFailedError:
    entry = manifest.entry_module
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}" if exc.filename else "?"
        return ImportFailedError(f"syntax error in entry module '{entry}' at {where}: {exc.msg}")
    if isinstance(exc, ModuleNotFoundError) and exc.name and entry.startswith(exc.name):
        return ImportFailedError(
            f"entry module '{entry}' not found under workflow/",
            hint="set metadata.entry_module in package.toml",
        )
    return ImportFailedError(
        f"entry module '{entry}' raised at import: {type(exc).__name__}: {exc}"
    )


def import_package(root: Path, manifest: Manifest) -> tuple[Any, dict[str, Any]]:
    """Import ``manifest.entry_module`` from the package at ``root``.

    Returns the ``cloaca`` collection (live callables) and the JSON-able
    description (manifest, workflows with tasks/deps/rules/retry/params,
    triggers). Raises :class:`PackageError` naming what went wrong.
    """
    from cloacinactl.cloaca import collect

    if manifest.language != "python":
        raise PackageError(
            f"package '{manifest.name}' is a {manifest.language} package;"
            " only Python packages load here"
        )
    check_shadowing(root)
    roots = import_roots(root)
    provided: set[str] = set()
    for folder in roots:
        provided.update(top_level_names(folder))
    _evict(provided)
    for folder in reversed(roots):
        entry = str(folder)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)
    importlib.invalidate_caches()
    _install_cloaca()
    try:
        with collect(manifest.workflow_name) as collection:
            try:
                importlib.import_module(manifest.entry_module)
            except (Exception, SystemExit) as exc:  # user code may raise anything
                raise _import_error(manifest, exc) from exc
    except PackageError:
        raise
    except Exception as exc:  # the collector's validation of what was declared
        raise ImportFailedError(
            f"package '{manifest.name}' declares an invalid workflow: {exc}"
        ) from exc
    return collection, describe(manifest, collection)


def _main(argv: list[str]) -> int:
    """Subprocess mode: JSON result on the original stdout, everything else on stderr."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # user prints (even from C) cannot corrupt the JSON
    sys.stdout = sys.stderr
    result: dict[str, Any]
    try:
        if len(argv) != 1:
            raise PackageError("usage: python -m cloacinactl.packages.importer ROOT")
        root = Path(argv[0])
        manifest = load_manifest(root)
        _collection, description = import_package(root, manifest)
        result = {"ok": True, "description": description}
    except PackageError as exc:
        result = {"ok": False, "error": exc.message, "hint": exc.hint, "kind": type(exc).__name__}
    except BaseException as exc:  # report, never die without an answer
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "internal"}
    out.write(json.dumps(result))
    out.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

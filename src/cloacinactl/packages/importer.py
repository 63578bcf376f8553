"""Import a package's entry module INSIDE a worker (or throw-away) process.

Never call :func:`import_package` in a service's supervisor process: it runs
user code. It puts ``<root>/workflow`` then ``<root>/vendor`` first on
``sys.path``, makes ``import cloaca`` resolve to :mod:`cloacinactl.cloaca`,
refuses a package whose import roots would shadow a standard-library module,
and imports ``entry_module`` inside the ``cloaca`` collector so every task
and trigger declared at import time is recorded.

One worker imports many packages (and several versions of one package) that
may all ship e.g. ``workflow/helpers.py``. Each import returns the package's
:class:`PackageModules`: every module under a top-level name its roots provide
belongs to that package. A :class:`ModuleSwitch` makes one package *active* at
a time: its modules are the ones in ``sys.modules`` under those names and its
roots lead ``sys.path``; switching away keeps the outgoing package's modules
(including those its code imported lazily) for its next turn.

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
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from cloacinactl.packages.errors import ImportFailedError, PackageError
from cloacinactl.packages.manifest import Manifest, load_manifest

IMPORT_ROOTS = ("workflow", "vendor")
# Names a package may never provide at the top of an import root besides the stdlib.
RESERVED = frozenset({"cloacinactl"})
# Provided by the loader to every package; a vendored copy never replaces it.
SHARED = frozenset({"cloaca"})
# ModuleSwitch's marker in sys.modules (the colon keeps it from ever being imported).
MARK = "cloacinactl.packages.importer:mark"
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


@dataclass(eq=False)
class PackageModules:
    """What one imported package owns in this process.

    ``names``: the top-level module names its import roots provide; every
    module under them (``helpers``, ``demo.tasks``, ``somelib.sub``) is the
    package's own. ``modules``: those modules as they were when the package
    was last switched away from (empty while it is active: then they live in
    ``sys.modules``).
    """

    roots: list[str]
    names: frozenset[str]
    modules: dict[str, ModuleType] = field(default_factory=dict)


class ModuleSwitch:
    """Which package's modules are in ``sys.modules`` and whose roots lead ``sys.path``.

    One per process that imports packages (a worker's source cache). Modules
    under no package's names (stdlib, site-packages, cloacinactl, ``cloaca``)
    are shared and never swapped. A shared module under a name some package
    provides (the installed ``idna`` when a package vendors its own) is put
    aside while that package is active and comes back for everyone else, so
    it is never imported twice.

    Invariant after every switch: under any known package's names,
    ``sys.modules`` holds only what this switch installed (the active
    package's modules and the shared ones it does not replace). So a switch
    need not scan all of ``sys.modules``: a marker entry is moved to the end
    of it (dicts keep insertion order) and the next switch looks at what it
    installed plus the entries added after the marker. A new package's names,
    or a marker gone missing, take one full scan.
    """

    def __init__(self) -> None:
        self.active: PackageModules | None = None
        self._names: set[str] = set()  # the names of every package seen
        self._shared: dict[str, ModuleType] = {}  # put aside: no package's, under such names
        self._installed: list[str] = []
        self._mark = ModuleType(MARK)

    def activate(self, package: PackageModules | None) -> None:
        """Make ``package``'s modules and roots the current ones (None: no package's)."""
        leaving = self.active
        if leaving is package:
            # the common case: the same package again; only repair sys.path
            # if something (a module source, user code) put entries before it
            if package is not None and sys.path[: len(package.roots)] != package.roots:
                _put_first(package.roots)
            return
        self._put_away(leaving, package)
        modules = sys.modules
        own = package.names if package is not None else frozenset()
        installed = [name for name in self._shared if name.partition(".")[0] not in own]
        for name in installed:
            modules[name] = self._shared.pop(name)
        if package is not None:
            modules.update(package.modules)
            installed.extend(package.modules)
            package.modules = {}
            _put_first(package.roots)
        self._installed = installed
        modules.pop(MARK, None)
        modules[MARK] = self._mark
        self.active = package

    def _put_away(self, leaving: PackageModules | None, coming: PackageModules | None) -> None:
        """Take every module under a package's name out of ``sys.modules``: the leaving
        package's into its snapshot (lazy imports included), the others aside."""
        modules = sys.modules
        candidates = self._added_since_mark()
        if coming is not None and not coming.names <= self._names:
            self._names |= coming.names
            candidates = None
        if candidates is None:
            candidates = list(modules)
        owned = leaving.names if leaving is not None else frozenset()
        kept: dict[str, ModuleType] = {}
        for name in (*self._installed, *candidates):
            top = name.partition(".")[0]
            if top in self._names and name in modules:
                (kept if top in owned else self._shared)[name] = modules.pop(name)
        if leaving is not None:
            leaving.modules = kept
            for root in leaving.roots:
                while root in sys.path:
                    sys.path.remove(root)

    def _added_since_mark(self) -> list[str] | None:
        """Names put in ``sys.modules`` since the last switch; None: unknown."""
        modules = sys.modules
        if modules.get(MARK) is not self._mark:
            return None
        added: list[str] = []
        try:
            for name in reversed(modules):
                if name == MARK:
                    return added
                added.append(name)
        except RuntimeError:  # a thread of some task imported meanwhile
            return None
        return None


def _put_first(roots: list[str]) -> None:
    for root in reversed(roots):
        while root in sys.path:
            sys.path.remove(root)
        sys.path.insert(0, root)


def _install_cloaca() -> None:
    import cloacinactl.cloaca as cloaca

    sys.modules["cloaca"] = cloaca


def describe(manifest: Manifest, collection: Any) -> dict[str, Any]:
    """The JSON-able description of what the import declared."""
    workflows = [wf.to_dict() for wf in collection.workflows.values()]
    triggers = [trigger.to_dict() for trigger in collection.triggers]
    described = {"manifest": manifest.to_dict(), "workflows": workflows, "triggers": triggers}
    graphs = getattr(collection, "graph_set", None)
    if graphs is not None:
        described.update(graphs.describe())
    return described


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


def import_package(
    root: Path, manifest: Manifest, switch: ModuleSwitch | None = None
) -> tuple[Any, dict[str, Any], PackageModules]:
    """Import ``manifest.entry_module`` from the package at ``root``.

    Returns the ``cloaca`` collection (live callables), the JSON-able
    description (manifest, workflows with tasks/deps/rules/retry/params,
    triggers) and the package's modules, left active in ``switch`` (whatever
    package was active before is switched away from first). Raises
    :class:`PackageError` naming what went wrong; a failed import leaves no
    package active.
    """
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
    package = PackageModules([str(folder) for folder in roots], frozenset(provided - SHARED))
    switch = switch if switch is not None else ModuleSwitch()
    # Also drops same-named modules no package owns (e.g. a site-packages copy
    # of what this package vendors): from here on the names are this package's.
    switch.activate(package)
    try:
        collection = _import_entry(manifest)
    except BaseException:
        switch.activate(None)  # forget the half-imported modules, roots off sys.path
        raise
    return collection, describe(manifest, collection), package


def _import_entry(manifest: Manifest) -> Any:
    from cloacinactl.cloaca import collect

    importlib.invalidate_caches()
    _install_cloaca()
    try:
        with collect(manifest.workflow_name) as collection:
            try:
                importlib.import_module(manifest.entry_module)
            except (Exception, SystemExit) as exc:  # user code may raise anything
                raise _import_error(manifest, exc) from exc
        _finish_graphs(manifest, collection)
    except PackageError:
        raise
    except Exception as exc:  # the collector's validation of what was declared
        raise ImportFailedError(
            f"package '{manifest.name}' declares an invalid workflow: {exc}"
        ) from exc
    return collection


def _finish_graphs(manifest: Manifest, collection: Any) -> None:
    """Cross-check the computation graphs against each other and the manifest."""
    from cloacinactl.cloaca.errors import CloacaError
    from cloacinactl.cloaca.graphset import GraphSet, graph_set

    found = collection.graph_set
    if found is None and manifest.graph_name is not None:
        found = graph_set(collection)
    if not isinstance(found, GraphSet):
        return
    try:
        found.finish(
            graph_name=manifest.graph_name,
            reaction_mode=manifest.reaction_mode,
            input_strategy=manifest.input_strategy,
            declared_accumulators=manifest.accumulators,
        )
    except CloacaError as exc:
        raise ImportFailedError(
            f"package '{manifest.name}' declares an invalid computation graph: {exc}"
        ) from exc


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
        _collection, description, _modules = import_package(root, manifest)
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

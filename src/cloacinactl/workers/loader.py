"""Loading code sources inside a worker, once each, and finding callables in them.

Runs in the worker process only (it imports user code). A module source is
imported with its ``sys_path`` first on the import path; a package source is
imported by the packages layer's ``import_package``, which returns a
collection holding the live task and trigger callables. Loaded sources are
cached by ``source_id`` for the worker's life, so a workflow's code is
imported once per worker and reused by every later task.

Packages loaded into one worker share ``sys.modules``; :meth:`SourceCache.activate`
puts a package source's own modules and import roots in place before each of
its calls (see ``cloacinactl.packages.importer.ModuleSwitch``), so a task that
imports ``helpers`` at call time gets its own package's ``helpers``. Module
sources are not switched: they see whatever is imported.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .sources import ModuleSource, PackageSource, Source, to_dict_of

if TYPE_CHECKING:
    from cloacinactl.packages.importer import ModuleSwitch, PackageModules

# Where ``@cloaca.task`` leaves its spec (with the callbacks) on the function.
TASK_SPEC_ATTR = "__cloaca_task__"


class NotFound(LookupError):
    """The requested task or trigger does not exist in the loaded source."""


@dataclass
class LoadedSource:
    """One imported source: its description and how to find callables in it."""

    source: Source
    description: dict[str, Any]
    module: ModuleType | None = None
    collection: Any = None
    modules: PackageModules | None = None  # a package's own modules (None: a module source)

    def task_function(
        self, workflow: str, task_id: str, function: str | None
    ) -> Callable[..., Any]:
        """The callable of ``task_id`` in ``workflow``."""
        if self.collection is not None:
            try:
                return _as_callable(self.collection.task_function(workflow, task_id), task_id)
            except Exception as exc:  # the collection raises its own "no such task" error
                if function is None:
                    raise NotFound(
                        f"task {task_id!r} of workflow {workflow!r} is not in "
                        f"{self.source.source_id}"
                    ) from exc
        return self._by_reference(function or task_id, f"task {task_id!r}")

    def task_callbacks(
        self, workflow: str, task_id: str, function: Callable[..., Any]
    ) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
        """``(on_success, on_failure)`` declared with the task, either may be None."""
        lookup = getattr(self.collection, "task_callbacks", None)
        if callable(lookup):
            try:
                on_success, on_failure = lookup(workflow, task_id)
                return on_success, on_failure
            except Exception:  # not declared through the collection: use the function's spec
                pass
        spec = getattr(function, TASK_SPEC_ATTR, None)
        return getattr(spec, "on_success", None), getattr(spec, "on_failure", None)

    def trigger_function(self, name: str, function: str | None) -> Callable[..., Any]:
        """The poll function of trigger ``name``."""
        if self.collection is not None:
            try:
                return _as_callable(self.collection.trigger_function(name), name)
            except Exception as exc:  # the collection raises its own "no such trigger" error
                if function is None:
                    raise NotFound(f"trigger {name!r} is not in {self.source.source_id}") from exc
        return self._by_reference(function or name, f"trigger {name!r}")

    def _by_reference(self, reference: str, what: str) -> Callable[..., Any]:
        module_name, _, qualname = reference.rpartition(":")
        if module_name:
            module = importlib.import_module(module_name)
        elif self.module is not None:
            module = self.module
        else:
            raise NotFound(f"{what} has no code reference in {self.source.source_id}")
        target: Any = module
        for part in qualname.split("."):
            if part == "<locals>" or not hasattr(target, part):
                raise NotFound(
                    f"{what}: {module.__name__} has no attribute {qualname!r} "
                    f"(in {self.source.source_id})"
                )
            target = getattr(target, part)
        return _as_callable(target, qualname)


def _as_callable(obj: Any, name: str) -> Callable[..., Any]:
    if not callable(obj):
        raise NotFound(f"{name!r} is a {type(obj).__name__}, not a callable")
    return obj  # type: ignore[no-any-return]


def _prepend_sys_path(entries: tuple[str, ...] | list[str]) -> None:
    for entry in reversed(list(entries)):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def load_module_source(source: ModuleSource) -> LoadedSource:
    """Import a plain module source."""
    _prepend_sys_path(source.sys_path)
    importlib.invalidate_caches()
    module = importlib.import_module(source.module)
    description = {
        "kind": "module",
        "source_id": source.source_id,
        "module": source.module,
        "file": getattr(module, "__file__", None),
    }
    return LoadedSource(source, description, module=module)


def load_package_source(source: PackageSource, switch: ModuleSwitch) -> LoadedSource:
    """Import a package source through the packages layer's importer; it is left
    active in ``switch``."""
    # Imported here: the importer runs user code and only workers need it.
    from cloacinactl.packages.importer import import_package
    from cloacinactl.packages.manifest import Manifest

    manifest = Manifest.from_dict(source.manifest)
    collection, description, modules = import_package(Path(source.root), manifest, switch)
    described = _describe(description)
    described.setdefault("source_id", source.source_id)
    return LoadedSource(source, described, collection=collection, modules=modules)


def _describe(description: Any) -> dict[str, Any]:
    if isinstance(description, dict):
        return dict(description)
    result = to_dict_of(description)
    if result is not None:
        return result
    raise TypeError(f"package description of type {type(description).__name__} is not a dict")


class SourceCache:
    """Every source this worker has loaded, by id."""

    def __init__(self) -> None:
        self._loaded: dict[str, LoadedSource] = {}
        self._switch: ModuleSwitch | None = None  # made with the first package source

    def ids(self) -> list[str]:
        """Ids of the loaded sources."""
        return list(self._loaded)

    def get(self, source: Source) -> tuple[LoadedSource, bool]:
        """The loaded source (importing it on first use) and whether it was cached."""
        cached = self._loaded.get(source.source_id)
        if cached is not None:
            return cached, True
        if isinstance(source, ModuleSource):
            loaded = load_module_source(source)
        else:
            loaded = load_package_source(source, self._module_switch())
        self._loaded[source.source_id] = loaded
        return loaded, False

    def activate(self, loaded: LoadedSource) -> None:
        """Before calling into ``loaded``: a package's own modules in ``sys.modules``
        and its roots first on ``sys.path`` (a module source changes nothing)."""
        if loaded.modules is not None and self._switch is not None:
            self._switch.activate(loaded.modules)

    def _module_switch(self) -> ModuleSwitch:
        if self._switch is None:
            from cloacinactl.packages.importer import ModuleSwitch

            self._switch = ModuleSwitch()
        return self._switch

"""Code sources a worker can load: a plain importable module or a package.

A *source* names where a workflow's code lives. It is plain data so the
supervisor process (which never imports user code) can describe it and send it
to a worker; ``source_id`` is the cache key a worker uses to import each
source once and reuse it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cloacinactl.errors import UserError
from cloacinactl.workflow.model import WorkflowDef


@dataclass(frozen=True)
class ModuleSource:
    """An importable module; ``sys_path`` entries are put first on the import path."""

    module: str
    sys_path: tuple[str, ...] = ()

    @cached_property
    def source_id(self) -> str:
        """Stable cache key of this source."""
        if not self.sys_path:
            return f"module:{self.module}"
        digest = hashlib.sha256("\0".join(self.sys_path).encode()).hexdigest()[:12]
        return f"module:{self.module}@{digest}"

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {"kind": "module", "module": self.module, "sys_path": list(self.sys_path)}


@dataclass(frozen=True)
class PackageSource:
    """An extracted ``.cloacina`` package: its root folder and manifest fields."""

    package_id: str
    root: str
    manifest: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def source_id(self) -> str:
        """Stable cache key of this source (the package identity)."""
        return f"package:{self.package_id}"

    def to_dict(self) -> dict[str, Any]:
        """Wire form."""
        return {
            "kind": "package",
            "package_id": self.package_id,
            "root": self.root,
            "manifest": self.manifest,
        }


Source = ModuleSource | PackageSource


def source_from_dict(data: Any) -> Source:
    """Parse a source from its wire form; ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("source must be an object")
    kind = data.get("kind")
    if kind == "module":
        module = data.get("module")
        sys_path = data.get("sys_path", [])
        if not isinstance(module, str) or not module:
            raise ValueError("module source needs a non-empty 'module' string")
        if not isinstance(sys_path, list) or not all(isinstance(p, str) for p in sys_path):
            raise ValueError("module source 'sys_path' must be a list of strings")
        return ModuleSource(module, tuple(sys_path))
    if kind == "package":
        package_id = data.get("package_id")
        root = data.get("root")
        manifest = data.get("manifest", {})
        if not isinstance(package_id, str) or not package_id:
            raise ValueError("package source needs a non-empty 'package_id' string")
        if not isinstance(root, str) or not root:
            raise ValueError("package source needs a 'root' folder")
        if not isinstance(manifest, dict):
            raise ValueError("package source 'manifest' must be an object")
        json.dumps(manifest)
        return PackageSource(package_id, root, manifest)
    raise ValueError(f"unknown source kind {kind!r} (expected 'module' or 'package')")


def code_wire(code: Any, workflow: WorkflowDef) -> dict[str, Any]:
    """Where a workflow's code lives, in wire form (a workers ``Source`` or its dict)."""
    if code is None:
        modules = {t.module for t in workflow.tasks if t.module}
        if len(modules) != 1:
            raise UserError(
                f"workflow {workflow.name!r}: say where its code lives (code=...)",
                hint="pass a ModuleSource/PackageSource or {'kind': 'module', 'module': ...}",
            )
        return {"kind": "module", "module": modules.pop(), "sys_path": []}
    if isinstance(code, Mapping):
        return dict(code)
    wire = to_dict_of(code)
    if wire is None:
        raise UserError(f"cannot use {type(code).__name__} as a code location")
    return wire


def to_dict_of(value: Any) -> dict[str, Any] | None:
    """What ``value.to_dict()`` returns, if it has one that returns a dict."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, dict):
            return result
    return None

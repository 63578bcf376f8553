"""Lazy package exports (PEP 562), shared by the packages that keep start-up cheap.

A package lists ``{public name: submodule}`` and sets
``__getattr__ = lazy_exports(__name__, exports, globals())``: a name's submodule is
imported on first use and the value is cached in the package, so importing one
light submodule (say, for a fast health probe) never pays for the others.
Lives in ``config`` because that is the bottom layer every package may import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that loads ``exports[name]`` (a submodule of ``package``)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__

"""Computation graphs: the pure model, the reactor state machines, the runtime.

Public API: ``GraphRuntime`` (and its errors ``GraphNotFoundError``,
``GraphInputError``, ``GraphConflictError``); the model types live in
``engine.graphs.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from .runtime import GraphConflictError, GraphInputError, GraphNotFoundError, GraphRuntime

# Lazy: the worker imports ``engine.graphs.worker`` and must not pay for trio.
_EXPORTS = {
    "GraphConflictError": "runtime",
    "GraphInputError": "runtime",
    "GraphNotFoundError": "runtime",
    "GraphRuntime": "runtime",
}

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = ["GraphConflictError", "GraphInputError", "GraphNotFoundError", "GraphRuntime"]

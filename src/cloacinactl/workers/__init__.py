"""Worker processes that run task code, import packages and poll triggers (design §2).

Its own part, between the supervisor and the engine: it runs code in children and
knows nothing of executions (the engine uses it through
:class:`cloacinactl.engine.pooled.TaskPool`). ``PoolImporter`` imports packages in it.

Public API:

- ``WorkerPool(size=None, *, service="cloacina", python=None, grace_s=5.0,
  start_timeout_s=30.0, backoff=None (the supervisor's default BackoffPolicy),
  output_limit=1 MiB, env=None, max_calls_per_worker=None, capture_root=None,
  memory_limit_mb=None)``
  with ``serve(*, task_status)``, ``stop()``,
  ``run_task(TaskRequest) -> TaskResult``, ``load(source, *, timeout) -> LoadResult``,
  ``poll_trigger(source, trigger, *, function=None, timeout=None) -> TriggerPoll``,
  ``stats() -> dict``.
- Sources: ``ModuleSource(module, sys_path=())``, ``PackageSource(package_id, root,
  manifest)``.
- Results: ``TaskRequest``, ``TaskResult``, ``LoadResult``, ``TriggerPoll``, ``Output``,
  ``TaskError`` (``kind``: exception, bad_return, not_json, bad_input, not_found,
  load_failed, timeout, crashed, memory_limit, cancelled, protocol).
- ``TaskHandle``: what a task receives as its ``handle``/``task_handle`` argument.
- ``PoolClosed``: raised by calls on a stopped pool; ``WorkerStartError``: raised by
  ``serve`` when a worker never becomes ready, or later when every worker gave up
  (FATAL). Timeouts, task crashes and memory-limit kills never count towards FATAL.
- Memory: every worker raises its ``oom_score_adj`` (the kernel's OOM killer takes
  a worker before the supervisor); with ``memory_limit_mb`` a worker whose RSS
  passes the limit during an attempt is killed (that attempt fails with kind
  ``memory_limit``) and one that is over it between attempts is recycled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloacinactl.config.lazy import lazy_exports

if TYPE_CHECKING:
    from .calling import TaskHandle
    from .core import PoolClosed, WorkerStartError
    from .importing import PoolImporter
    from .outcome import TaskError
    from .pool import WorkerPool
    from .results import LoadResult, Output, TaskRequest, TaskResult, TriggerPoll
    from .sources import ModuleSource, PackageSource, Source, source_from_dict

# Lazy exports: the worker program (``-m cloacinactl.workers.child``)
# imports this package first and must not pay for trio and the supervisor.
_EXPORTS = {
    "TaskHandle": "calling",
    "PoolClosed": "core",
    "WorkerStartError": "core",
    "PoolImporter": "importing",
    "TaskError": "outcome",
    "WorkerPool": "pool",
    "LoadResult": "results",
    "Output": "results",
    "TaskRequest": "results",
    "TaskResult": "results",
    "TriggerPoll": "results",
    "ModuleSource": "sources",
    "PackageSource": "sources",
    "Source": "sources",
    "source_from_dict": "sources",
}


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "LoadResult",
    "ModuleSource",
    "Output",
    "PackageSource",
    "PoolClosed",
    "PoolImporter",
    "Source",
    "TaskError",
    "TaskHandle",
    "TaskRequest",
    "TaskResult",
    "TriggerPoll",
    "WorkerPool",
    "WorkerStartError",
    "source_from_dict",
]

"""Long-running parts of the server started before its tenants are announced. Append yours.

Each is ``async def run(state: ServerState, *, task_status=trio.TASK_STATUS_IGNORED)``:
it registers what it needs (e.g. a tenant listener on ``state.tenant_listeners``),
calls ``task_status.started()`` and runs until cancelled at shutdown. The server
starts them in order once migrations ran, then announces every tenant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from cloacinactl.services.server.state import ServerState

Component = Callable[..., Awaitable[Any]]


async def run_runtime(
    state: ServerState, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Each tenant's engine, worker pool, schedules and graphs (``ServerRuntime``)."""
    from cloacinactl.services.server.buildtrust import BuildTrust
    from cloacinactl.services.server.runmetrics import RunMetrics
    from cloacinactl.services.server.serverruntime import ServerRuntime

    config = state.config
    counting = RunMetrics(state.metrics, state.stores)
    listeners: list[Callable[[str, Mapping[str, Any]], None]] = [counting.finished]
    spans = None
    if state.tracer is not None:
        from cloacinactl.services.server.spans import ExecutionSpans

        spans = ExecutionSpans(state.tracer, state.stores)
        listeners.append(spans.finished)

    def finished(tenant: str, done: Mapping[str, Any]) -> None:
        for listener in listeners:
            listener(tenant, done)

    runtime = ServerRuntime(
        config.home.root / "server-cache",
        workers=config.workers,
        reconcile_interval_s=float(config.reconcile_interval_s),
        drain_timeout_s=config.shutdown_timeout_s,
        settings=config.engine_settings,
        secret_kek=config.secret_kek,
        on_finished=finished,
        trust=BuildTrust(state.control, lambda: state.trusted_keys),
    )
    state.runtime = runtime
    state.tenant_listeners.append(runtime)

    async def status() -> dict[str, Any]:
        tenants = runtime.status()
        return {
            "packages_loaded": sum(t["packages_loaded"] for t in tenants.values()),
            "active_executions": await counting.active_executions(),
            "workers": sum(t["workers"] for t in tenants.values()),
            "workers_per_tenant": runtime.workers,
            "tenant_runtimes": tenants,
        }

    state.status_providers.append(status)
    async with trio.open_nursery() as nursery:
        await nursery.start(counting.serve)
        if spans is not None:
            await nursery.start(spans.serve)
        await nursery.start(runtime.serve)
        task_status.started()


def components() -> list[Component]:
    """The components, imported only when the server starts."""
    out: list[Component] = [run_runtime]
    return out

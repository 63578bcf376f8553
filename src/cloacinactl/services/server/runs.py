"""Starting a run from a route: the one path of ``execute`` and a trigger's ``fire``.

The workflow must be loaded in the tenant's engine here, its input passes the
declared-params and secret-binding check (``inputs.checked_context``), and the
engine's refusals become envelopes: not loaded 404 ``workflow_not_found``,
paused 409 ``workflow_paused``, anything else the caller got wrong 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloacinactl.errors import NotFoundError, UserError
from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.inputs import checked_context
from cloacinactl.services.server.otel import current_traceparent
from cloacinactl.services.server.state import ServerState

if TYPE_CHECKING:
    from cloacinactl.services.server.runtime import TenantRuntime


@dataclass(frozen=True)
class CheckedRun:
    """A run whose workflow is loaded here and whose input passed every check."""

    runtime: TenantRuntime
    workflow: str
    context: dict[str, Any]


async def check_run(
    state: ServerState, tenant: str, workflow: str, context: Mapping[str, Any]
) -> CheckedRun:
    """Everything ``start_run`` checks before it starts anything."""
    runtime = state.tenant_runtime(tenant)
    definition = await runtime.definition(workflow)
    if definition is None:
        raise ApiError(404, "workflow_not_found", f"workflow {workflow!r} is not loaded")
    return CheckedRun(runtime, workflow, await checked_context(state, tenant, definition, context))


async def launch(state: ServerState, run: CheckedRun, *, trigger: str | None = None) -> str:
    """Start a checked run (as a manual fire of ``trigger`` when given); its execution id."""
    parent = None if state.tracer is None else current_traceparent()
    try:
        if trigger is None:
            return await run.runtime.execute(run.workflow, run.context, trace_parent=parent)
        return await run.runtime.fire(run.workflow, trigger, run.context, trace_parent=parent)
    except NotFoundError as exc:
        raise ApiError(404, "workflow_not_found", exc.message) from None
    except UserError as exc:
        if "paused" in exc.message:
            raise ApiError(409, "workflow_paused", exc.message) from None
        raise ApiError(400, "invalid_request", exc.message) from None


async def start_run(
    state: ServerState,
    tenant: str,
    workflow: str,
    context: Mapping[str, Any],
    *,
    trigger: str | None = None,
) -> str:
    """Start ``workflow`` (as a manual fire of ``trigger`` when given); its execution id."""
    return await launch(state, await check_run(state, tenant, workflow, context), trigger=trigger)

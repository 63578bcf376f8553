"""The execute route's input check: declared params and secret bindings, before anything runs.

``await checked_context(state, tenant, workflow, context)`` returns the context
to start the execution with (defaults and default bindings filled in) or
raises the envelope: 400 ``workflow_input_invalid`` naming every missing or
mistyped param and every literal value given for a secret slot; 503
``secrets_not_configured`` when the workflow declares secret slots and the
server has no KEK; 400 ``secret_not_found`` for a binding to a secret the
tenant does not have. The values themselves are read only when each task is
handed to a worker (so a rotation is seen by the next run).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from cloacinactl.services.server.errors import ApiError
from cloacinactl.services.server.state import ServerState
from cloacinactl.store.secrets import secret_exists
from cloacinactl.workflow import check_input
from cloacinactl.workflow.model import WorkflowDef


async def checked_context(
    state: ServerState, tenant: str, workflow: WorkflowDef, context: Mapping[str, Any]
) -> dict[str, Any]:
    """The execution's input context, checked against what ``workflow`` declares."""
    checked = check_input(workflow.params, workflow.secrets, context)
    if not checked.ok:
        raise ApiError(400, "workflow_input_invalid", checked.message(workflow.name))
    if not checked.bindings:
        return checked.context
    if state.config.secret_kek is None:
        raise ApiError(
            503,
            "secrets_not_configured",
            f"workflow {workflow.name!r} uses secrets and this server has no CLOACINA_SECRET_KEK",
        )
    store = state.tenant_store(tenant)
    names = sorted(set(checked.bindings.values()))
    missing = await trio.to_thread.run_sync(
        store.read, lambda c: [n for n in names if not secret_exists(c, n)]
    )
    if missing:
        slots = {name: slot for slot, name in checked.bindings.items()}
        raise ApiError(
            400,
            "secret_not_found",
            "; ".join(
                f"secret {n!r} (bound to slot {slots[n]!r}) does not exist in tenant {tenant!r}"
                for n in missing
            ),
        )
    return checked.context

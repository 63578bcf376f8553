"""Long-running parts of the server started before its tenants are announced. Append yours.

Each is ``async def run(state: ServerState, *, task_status=trio.TASK_STATUS_IGNORED)``:
it registers what it needs (e.g. a tenant listener on ``state.tenant_listeners``),
calls ``task_status.started()`` and runs until cancelled at shutdown. The server
starts them in order once migrations ran, then announces every tenant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Component = Callable[..., Awaitable[Any]]


def components() -> list[Component]:
    """The components, imported only when the server starts."""
    out: list[Component] = []
    return out

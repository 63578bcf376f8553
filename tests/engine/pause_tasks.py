"""Task functions for the pause tests (imported by module name, like ``flows``)."""

from __future__ import annotations

from typing import Any

import flows


def gated_flaky(ctx: Any) -> Any:
    """Blocks until the file named ``gate`` exists, then fails on its first run only."""
    flows.wait_for_file(ctx)
    with open(ctx["log"]) as fh:
        runs = sum(1 for line in fh if line.strip().endswith(":wait"))
    if runs == 1:
        raise RuntimeError("gated_flaky fails on its first run")
    ctx.set("flaky", "ok")
    return ctx

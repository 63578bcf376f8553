"""Task functions that use secrets, for the engine's secret tests (imported by name)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import RetryPolicy, TaskDef, WorkflowDef

HERE = str(Path(__file__).parent)
CODE = {"kind": "module", "module": "secret_flows", "sys_path": [HERE]}


def uses(ctx: Any) -> Any:
    password = ctx.secret_field("db", "password")
    print(f"connecting with {password}")  # user code printing a secret: masked
    logging.getLogger("task").warning("password is %s", password)
    ctx.set("password_length", len(password))
    ctx.set("fields", sorted(ctx.secret("db")))
    return ctx


def leaks(ctx: Any) -> Any:
    ctx.set("oops", "pw=" + ctx.secret_field("db", "password"))
    return ctx


def raises(ctx: Any) -> Any:
    raise ValueError(f"login refused for {ctx.secret_field('db', 'password')}")


def missing_field(ctx: Any) -> Any:
    return ctx.secret_field("db", "nope")


def hangs(ctx: Any) -> Any:
    print("about to hang with", ctx.secret_field("db", "password"), flush=True)
    time.sleep(60)  # killed at its timeout: the pool reads what it printed
    return ctx


def workflow(name: str, function: str, timeout_s: float | None = None) -> WorkflowDef:
    task = TaskDef(
        id=function,
        module="secret_flows",
        qualname=function,
        retry=RetryPolicy(max_attempts=1),
        timeout_s=timeout_s,
    )
    return build_workflow(name, [task], secrets=("db",))

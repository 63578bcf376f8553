"""Task functions and workflow builders for the engine tests (imported by module name).

Side effects go to files named in the context, so a test can count how many
times each task body really ran (in this process, a worker or another engine).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import (
    Backoff,
    Condition,
    ConditionKind,
    Op,
    RetryOn,
    RetryPolicy,
    RuleKind,
    TaskDef,
    TriggerRule,
    WorkflowDef,
)

HERE = str(Path(__file__).parent)
CODE = {"kind": "module", "module": "flows", "sys_path": [HERE]}
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay_ms=5, max_delay_ms=20, jitter=True)
NO_RETRY = RetryPolicy(max_attempts=1)


def _mark(ctx: Any, name: str) -> None:
    if ctx.get("sleep_each"):
        time.sleep(float(ctx.get("sleep_each")))
    log = ctx.get("log")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{ctx.get('run', '')}:{name}\n")


def _runs(ctx: Any, name: str) -> int:
    log = ctx.get("log")
    if not log or not os.path.exists(log):
        return 0
    with open(log) as fh:
        return sum(1 for line in fh if line.strip().endswith(f":{name}"))


def step(ctx: Any) -> Any:
    _mark(ctx, "step")
    ctx.set("step", True)
    return ctx


def a(ctx: Any) -> Any:
    _mark(ctx, "a")
    ctx.set("a", 1)
    ctx.set("items", ["a"])
    ctx.set("nested", {"from_a": True})
    return ctx


def b(ctx: Any) -> Any:
    _mark(ctx, "b")
    ctx.set("b", ctx.get("a", 0) + 1)
    ctx.set("items", [*ctx.get("items", []), "b"])
    ctx.set("nested", {**ctx.get("nested", {}), "from_b": True})
    return None  # design §8: None keeps the changes


def c(ctx: Any) -> dict[str, Any]:
    _mark(ctx, "c")
    data = ctx.to_dict()
    data["c"] = data.get("b", 0) + 1
    data["items"] = [*data.get("items", []), "c"]
    data["nested"] = {**data.get("nested", {}), "from_c": True}
    return data


def merge(ctx: Any) -> Any:
    _mark(ctx, "merge")
    ctx.set("merged", sorted(ctx.to_dict()))
    return ctx


def noop(ctx: Any) -> Any:
    _mark(ctx, ctx.get("_task", "noop"))
    return ctx


def flaky(ctx: Any) -> Any:
    """Fails until it has run ``fail_times`` times."""
    _mark(ctx, "flaky")
    if _runs(ctx, "flaky") <= ctx.get("fail_times", 0):
        raise RuntimeError(f"flaky failure #{_runs(ctx, 'flaky')}")
    ctx.set("flaky", "ok")
    return ctx


def boom(ctx: Any) -> Any:
    _mark(ctx, "boom")
    raise ValueError("boom went the task")


def returns_int(ctx: Any) -> int:
    return 42


def returns_bad_json(ctx: Any) -> dict[str, Any]:
    return {"when": object()}


def sets_bad_value(ctx: Any) -> Any:
    ctx.set("bad", {1, 2})
    return ctx


def wait_for_file(ctx: Any) -> Any:
    """Blocks until the file named ``gate`` exists (tests open it)."""
    _mark(ctx, "wait")
    deadline = time.monotonic() + 30
    while not os.path.exists(ctx["gate"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return ctx


def sleepy(ctx: Any) -> Any:
    time.sleep(float(ctx.get("sleep", 0.01)))
    _mark(ctx, "sleepy")
    return ctx


def on_fail(ctx: Any) -> Any:
    _mark(ctx, "on_fail")
    ctx.set("handled", True)
    return ctx


def task(
    tid: str,
    func: str | None = None,
    deps: tuple[str, ...] = (),
    *,
    retry: RetryPolicy = FAST_RETRY,
    rule: TriggerRule | None = None,
    timeout: float | None = None,
) -> TaskDef:
    return TaskDef(
        id=tid,
        module="flows",
        qualname=func or tid,
        dependencies=deps,
        retry=retry,
        trigger_rule=rule,
        timeout_s=timeout,
    )


def simple(name: str = "simple") -> WorkflowDef:
    return build_workflow(name, [task("step")])


def pipeline(name: str = "pipeline") -> WorkflowDef:
    return build_workflow(name, [task("a"), task("b", deps=("a",)), task("c", deps=("b",))])


def parallel(name: str = "parallel") -> WorkflowDef:
    return build_workflow(
        name,
        [
            task("a"),
            task("b", deps=("a",)),
            task("c", deps=("a",)),
            task("p3", "noop", deps=("a",)),
            task("merge", deps=("b", "c", "p3")),
        ],
    )


def failing(name: str = "failing", retry: RetryPolicy = FAST_RETRY) -> WorkflowDef:
    return build_workflow(
        name,
        [
            task("boom", retry=retry),
            task("after", "noop", deps=("boom",)),
            task(
                "handler",
                "on_fail",
                deps=("boom",),
                rule=TriggerRule(RuleKind.ALL, (Condition(ConditionKind.TASK_FAILED, "boom"),)),
            ),
        ],
    )


def gated(name: str = "gated") -> WorkflowDef:
    rule = TriggerRule(
        RuleKind.ALL, (Condition(ConditionKind.CONTEXT_VALUE, key="go", op=Op.EQUALS, value=True),)
    )
    return build_workflow(
        name, [task("a"), task("b", deps=("a",), rule=rule), task("c", deps=("b",))]
    )


def single(name: str, func: str, *, retry: RetryPolicy = NO_RETRY, **kw: Any) -> WorkflowDef:
    return build_workflow(name, [task("only", func, retry=retry, **kw)])


EXPONENTIAL = RetryPolicy(
    max_attempts=4,
    initial_delay_ms=10,
    max_delay_ms=40,
    backoff=Backoff.EXPONENTIAL,
    retry_on=RetryOn.ALL,
    jitter=False,
)


def exits(ctx: Any) -> Any:
    os._exit(3)


def aborts(ctx: Any) -> Any:
    os.abort()


def loops(ctx: Any) -> Any:
    while True:
        pass


def prints(ctx: Any) -> Any:
    import logging

    print("hello from the task")
    logging.getLogger("flows").warning("a warning from the task")
    ctx.set("printed", True)
    return ctx


async def async_step(ctx: Any) -> Any:
    import asyncio

    await asyncio.sleep(0)
    ctx.set("async", True)
    return ctx


def with_handle(ctx: Any, handle: Any) -> Any:
    ctx.set(
        "seen",
        {"execution": handle.execution_id, "task": handle.task_id, "attempt": handle.attempt},
    )
    return ctx

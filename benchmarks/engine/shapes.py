"""The three shapes of the upstream performance suite, as task functions + workflows."""

from __future__ import annotations

from typing import Any

from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import RetryPolicy, TaskDef, WorkflowDef

MODULE = "benchmarks.engine.shapes"
NO_RETRY = RetryPolicy(max_attempts=1)


def work(ctx: Any) -> Any:
    """A trivial task: the benchmark measures the engine, not the task."""
    ctx.set("n", int(ctx.get("n", 0)) + 1)
    return ctx


def _t(tid: str, deps: tuple[str, ...] = ()) -> TaskDef:
    return TaskDef(tid, MODULE, "work", dependencies=deps, retry=NO_RETRY)


def simple() -> WorkflowDef:
    return build_workflow("bench_simple", [_t("only")])


def pipeline() -> WorkflowDef:
    return build_workflow("bench_pipeline", [_t("t1"), _t("t2", ("t1",)), _t("t3", ("t2",))])


def parallel() -> WorkflowDef:
    return build_workflow(
        "bench_parallel",
        [
            _t("setup"),
            _t("p1", ("setup",)),
            _t("p2", ("setup",)),
            _t("p3", ("setup",)),
            _t("merge", ("p1", "p2", "p3")),
        ],
    )


SHAPES = {"simple": simple, "pipeline": pipeline, "parallel": parallel}


def context_rows(count: int) -> list[dict[str, Any]]:
    """``count`` rows (~43 bytes of JSON each) for an execution's input to carry."""
    return [{"id": i, "name": f"n{i}", "score": i * 0.5} for i in range(count)]

"""The authoring API that workflow packages import as ``cloaca``.

``import cloaca`` inside a package resolves to this module (the loader installs
it under that name). Decorators validate at import time and register into the
workflow the loader is importing; see :func:`collect`.
"""

from cloacinactl.cloaca.accumulators import (
    batch_accumulator,
    boundary_schema,
    passthrough_accumulator,
    polling_accumulator,
    state_accumulator,
    stream_accumulator,
)
from cloacinactl.cloaca.errors import (
    CloacaError,
    MissingVariableError,
    TransientError,
    is_transient_exception,
)
from cloacinactl.cloaca.graphs import ComputationGraphBuilder, node, reactor
from cloacinactl.cloaca.handle import TaskHandle
from cloacinactl.cloaca.registry import Collection, collect
from cloacinactl.cloaca.retry import (
    BackoffStrategy,
    RetryCondition,
    RetryPolicy,
    RetryPolicyBuilder,
)
from cloacinactl.cloaca.rules import (
    all_of,
    always,
    any_of,
    context_value,
    none_of,
    task_failed,
    task_skipped,
    task_success,
)
from cloacinactl.cloaca.task import task
from cloacinactl.cloaca.trigger import TriggerResult, parse_duration_ms, trigger
from cloacinactl.cloaca.vars import var, var_or
from cloacinactl.cloaca.workflow import (
    Workflow,
    WorkflowBuilder,
    register_workflow,
    register_workflow_constructor,
    workflow_params,
    workflow_secrets,
)
from cloacinactl.workflow.context import Context, ContextError

__all__ = [
    "BackoffStrategy",
    "CloacaError",
    "Collection",
    "ComputationGraphBuilder",
    "Context",
    "ContextError",
    "MissingVariableError",
    "RetryCondition",
    "RetryPolicy",
    "RetryPolicyBuilder",
    "TaskHandle",
    "TransientError",
    "TriggerResult",
    "Workflow",
    "WorkflowBuilder",
    "all_of",
    "always",
    "any_of",
    "batch_accumulator",
    "boundary_schema",
    "collect",
    "context_value",
    "is_transient_exception",
    "node",
    "none_of",
    "parse_duration_ms",
    "passthrough_accumulator",
    "polling_accumulator",
    "reactor",
    "register_workflow",
    "register_workflow_constructor",
    "state_accumulator",
    "stream_accumulator",
    "task",
    "task_failed",
    "task_skipped",
    "task_success",
    "trigger",
    "var",
    "var_or",
    "workflow_params",
    "workflow_secrets",
]

"""The pure state machine of an execution (design §9).

The runtime keeps task states in the database and asks this module what
follows: which NotStarted tasks become Ready or Skipped, what context a task
receives, and when the execution as a whole is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from cloacinactl.values import value
from cloacinactl.workflow.merge import merge_contexts
from cloacinactl.workflow.model import ExecutionStatus, TaskDef, TaskState, WorkflowDef
from cloacinactl.workflow.rules import evaluate_rule
from cloacinactl.workflow.states import TERMINAL_TASK_STATES


@value
class Transition:
    """Task ``task_id`` moves from NotStarted to ``to`` (Ready or Skipped).

    For Ready, ``context`` is the input the task receives (already merged; the
    very mapping it was given when it is one dependency's output or the
    execution input: read it, do not modify it).
    """

    task_id: str
    to: TaskState
    reason: str
    context: Mapping[str, Any] | None = field(default=None, compare=False)


def task_input(
    workflow: WorkflowDef,
    task_id: str,
    outputs: Mapping[str, Mapping[str, Any]],
    input_context: Mapping[str, Any],
) -> Mapping[str, Any]:
    """The context ``task_id`` receives.

    Roots get the execution input. Other tasks get the merge, in topological
    order, of their dependencies' contributions: a Completed dependency
    contributes its output; a dependency without output (Skipped/Failed)
    passes through what it would itself have received. A single contribution
    is returned as it is, not copied (so stored text stays stored text): the
    caller reads it and does not modify it.
    """
    needed = {task_id}
    for t in reversed(workflow.tasks):  # reverse topological: dependents first
        if (t.id in needed and t.id not in outputs) or t.id == task_id:
            needed.update(t.dependencies)
    received: dict[str, Mapping[str, Any]] = {}
    for t in workflow.tasks:
        if t.id not in needed or (t.id in outputs and t.id != task_id):
            continue  # (a dependency with an output contributes that, not what it received)
        if not t.dependencies:
            received[t.id] = input_context
            continue
        parts: list[Mapping[str, Any]] = []
        for d in workflow.ordered_dependencies[t.id]:
            out = outputs.get(d)
            parts.append(out if out is not None else received[d])
        received[t.id] = parts[0] if len(parts) == 1 else merge_contexts(parts)
        if t.id == task_id:
            break
    return received[task_id]


def next_transitions(
    workflow: WorkflowDef,
    states: Mapping[str, TaskState],
    outputs: Mapping[str, Mapping[str, Any]] | None = None,
    input_context: Mapping[str, Any] | None = None,
) -> list[Transition]:
    """NotStarted tasks whose dependencies are all terminal, in topological order.

    A task with an explicit trigger rule is Ready when the rule holds (evaluated
    on its merged input context and the dependency states), else Skipped. With
    no rule (the default): Skipped if any dependency Failed, else Ready; a
    Skipped dependency counts as resolved, except one that was itself skipped
    by the default rule because of a failure upstream: that skip carries the
    failure on, so a join below a failed branch does not run on partial data.
    Skips cascade within one call. Missing states count as NotStarted.
    """
    outs = outputs or {}
    inp = input_context if input_context is not None else {}
    working = {tid: states.get(tid, TaskState.NOT_STARTED) for tid in workflow.task_ids}
    result: list[Transition] = []
    carries: dict[str, bool] = {}  # does a failure reach through this task?
    for task in workflow.tasks:
        if working[task.id] is not TaskState.NOT_STARTED:
            carries[task.id] = _carries(task, working, carries)
            continue
        if not all(working[d] in TERMINAL_TASK_STATES for d in task.dependencies):
            continue
        if task.trigger_rule is not None:
            ctx = task_input(workflow, task.id, outs, inp)
            if evaluate_rule(task.trigger_rule, ctx, working):
                tr = Transition(task.id, TaskState.READY, "trigger rule satisfied", ctx)
            else:
                tr = Transition(task.id, TaskState.SKIPPED, "trigger rule not satisfied")
        elif failed := [d for d in task.dependencies if carries[d]]:
            tr = Transition(task.id, TaskState.SKIPPED, f"dependency failed: {', '.join(failed)}")
        else:
            ctx = task_input(workflow, task.id, outs, inp)
            tr = Transition(task.id, TaskState.READY, "dependencies resolved", ctx)
        working[task.id] = tr.to
        carries[task.id] = _carries(task, working, carries)
        result.append(tr)
    return result


def _carries(task: TaskDef, states: Mapping[str, TaskState], carries: Mapping[str, bool]) -> bool:
    """Failed, or Skipped by the default rule because a failure reached it."""
    state = states[task.id]
    if state is TaskState.FAILED:
        return True
    if state is not TaskState.SKIPPED or task.trigger_rule is not None:
        return False
    return any(carries[d] for d in task.dependencies)


def initial_transitions(
    workflow: WorkflowDef, input_context: Mapping[str, Any] | None = None
) -> list[Transition]:
    """Transitions for a brand-new execution (all tasks NotStarted)."""
    if workflow.roots_unconditional:
        # what next_transitions finds then, without walking the graph: each root is
        # Ready on the input, nothing else moves
        inp = input_context if input_context is not None else {}
        return [
            Transition(root, TaskState.READY, "dependencies resolved", inp)
            for root in workflow.roots
        ]
    return next_transitions(workflow, {}, {}, input_context)


def execution_outcome(
    workflow: WorkflowDef, states: Mapping[str, TaskState]
) -> ExecutionStatus | None:
    """Completed or Failed once every task is terminal; None while work remains.

    Failed when any task Failed (even if a rule-gated handler ran after it);
    otherwise Completed (Skipped tasks do not fail an execution).
    """
    finals = [states.get(tid, TaskState.NOT_STARTED) for tid in workflow.task_ids]
    if not all(s in TERMINAL_TASK_STATES for s in finals):
        return None
    return ExecutionStatus.FAILED if TaskState.FAILED in finals else ExecutionStatus.COMPLETED


def execution_output(
    workflow: WorkflowDef,
    outputs: Mapping[str, Mapping[str, Any]],
    input_context: Mapping[str, Any] | None = None,
) -> Mapping[str, Any]:
    """Merge of all completed tasks' outputs in topological order (the input if none);
    a single one as it is (read it, do not modify it)."""
    done = [outputs[tid] for tid in workflow.task_ids if tid in outputs]
    if not done:
        return input_context if input_context is not None else {}
    return done[0] if len(done) == 1 else merge_contexts(done)


@value
class Advance:
    """What follows in one execution after some of its tasks changed."""

    transitions: list[Transition]  # NotStarted tasks that become Ready or Skipped
    states: dict[str, TaskState]  # every task's state after them
    status: ExecutionStatus | None = None  # Completed/Failed once all tasks are terminal
    output: Mapping[str, Any] | None = None  # the execution's output when finished
    failed_tasks: list[str] = field(default_factory=list)


def advance_execution(
    workflow: WorkflowDef,
    states: Mapping[str, TaskState],
    outputs: Mapping[str, Mapping[str, Any]],
    input_context: Mapping[str, Any] | None = None,
) -> Advance:
    """The next transitions of an execution and, once every task is terminal, its end."""
    after = dict(states)
    found = next_transitions(workflow, after, outputs, input_context)
    for tr in found:
        after[tr.task_id] = tr.to
    status = execution_outcome(workflow, after)
    if status is None:
        return Advance(found, after)
    completed = {n: o for n, o in outputs.items() if after.get(n) is TaskState.COMPLETED}
    output = execution_output(workflow, completed, input_context)
    failed = sorted(n for n, v in after.items() if v is TaskState.FAILED)
    return Advance(found, after, status, output, failed)

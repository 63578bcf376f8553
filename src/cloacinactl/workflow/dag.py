"""DAG validation and ordering for workflows: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from cloacinactl.workflow.model import ModelError, ParamSlot, TaskDef, WorkflowDef


class DagError(ModelError):
    """The task graph is invalid: duplicate id, unknown dependency, cycle, bad rule."""


def check_unique(task_ids: Iterable[str], *, workflow: str) -> None:
    seen: set[str] = set()
    for tid in task_ids:
        if tid in seen:
            raise DagError(f"workflow {workflow!r}: duplicate task id {tid!r}")
        seen.add(tid)


def topological_order(
    deps: Mapping[str, Sequence[str]], *, workflow: str = "<workflow>"
) -> list[str]:
    """Kahn's algorithm, stable in declaration order; names the cycle when there is one."""
    for tid, ds in deps.items():
        for d in ds:
            if d not in deps:
                known = ", ".join(sorted(deps)) or "(none)"
                raise DagError(
                    f"workflow {workflow!r}: task {tid!r} depends on unknown task {d!r} "
                    f"(known tasks: {known})"
                )
            if d == tid:
                raise DagError(f"workflow {workflow!r}: task {tid!r} depends on itself")
    remaining = {tid: len(set(ds)) for tid, ds in deps.items()}
    dependents: dict[str, list[str]] = {tid: [] for tid in deps}
    for tid, ds in deps.items():
        for d in dict.fromkeys(ds):
            dependents[d].append(tid)
    order: list[str] = []
    ready = [tid for tid in deps if remaining[tid] == 0]
    while ready:
        nxt: list[str] = []
        for tid in ready:
            order.append(tid)
            for child in dependents[tid]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    nxt.append(child)
        # keep declaration order among tasks released in the same wave
        position = {tid: i for i, tid in enumerate(deps)}
        ready = sorted(nxt, key=position.__getitem__)
    if len(order) != len(deps):
        cycle = find_cycle({t: ds for t, ds in deps.items() if t not in set(order)})
        raise DagError(f"workflow {workflow!r}: dependency cycle {' -> '.join(cycle)}")
    return order


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Return one cycle as a closed path ``[a, b, ..., a]`` (empty if acyclic)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for d in deps.get(node, ()):
            if d not in color:
                continue
            if color[d] == grey:
                return [*stack[stack.index(d) :], d]
            if color[d] == white:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for n in deps:
        if color[n] == white:
            found = visit(n)
            if found:
                # report in dependency-flow order: dep before dependent
                return list(reversed(found))
    return []


def ancestors(deps: Mapping[str, Sequence[str]], task_id: str) -> set[str]:
    out: set[str] = set()
    todo = list(deps.get(task_id, ()))
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo.extend(deps.get(d, ()))
    return out


def build_workflow(
    name: str,
    tasks: Iterable[TaskDef],
    *,
    params: Iterable[ParamSlot] = (),
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    content_hash: str = "",
    secrets: Iterable[str] = (),
) -> WorkflowDef:
    """Validate the graph and return a WorkflowDef with tasks in topological order.

    Checks: at least one task, unique ids, known dependencies, no cycle, and
    every task a trigger rule names is an ancestor of the rule's task (so it is
    terminal when the rule is evaluated).
    """
    task_list = list(tasks)
    if not task_list:
        raise DagError(f"workflow {name!r} has no tasks")
    check_unique((t.id for t in task_list), workflow=name)
    deps = {t.id: t.dependencies for t in task_list}
    order = topological_order(deps, workflow=name)
    by_id = {t.id: t for t in task_list}
    for t in task_list:
        if t.trigger_rule is None:
            continue
        anc = ancestors(deps, t.id)
        for ref in t.trigger_rule.referenced_tasks():
            if ref not in by_id:
                raise DagError(
                    f"workflow {name!r}: trigger rule of task {t.id!r} names unknown task {ref!r}"
                )
            if ref not in anc:
                raise DagError(
                    f"workflow {name!r}: trigger rule of task {t.id!r} names {ref!r}, "
                    f"which is not one of its (transitive) dependencies"
                )
    param_list = list(params)
    check_unique((p.name for p in param_list), workflow=f"{name} params")
    secret_list = list(secrets)
    check_unique(secret_list, workflow=f"{name} secrets")
    clash = sorted({p.name for p in param_list} & set(secret_list))
    if clash:
        raise DagError(f"workflow {name!r}: {clash[0]!r} is declared as a param and a secret")
    return WorkflowDef(
        name=name,
        tasks=tuple(by_id[tid] for tid in order),
        params=tuple(param_list),
        description=description,
        tags=tuple(sorted((tags or {}).items())),
        content_hash=content_hash,
        secrets=tuple(secret_list),
    )


def execution_levels(workflow: WorkflowDef) -> list[list[str]]:
    """Group tasks into waves that can run in parallel."""
    level: dict[str, int] = {}
    for t in workflow.tasks:
        level[t.id] = 1 + max((level[d] for d in t.dependencies), default=-1)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for t in workflow.tasks:
        waves[level[t.id]].append(t.id)
    return waves

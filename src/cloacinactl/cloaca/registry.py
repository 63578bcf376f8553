"""Where declarations go: the stack of active collectors and workflow builders.

The loader wraps the import of a package's entry module in :func:`collect`;
every ``@cloaca.task`` (in the entry module and in modules it imports) lands in
the collector's workflow unless a ``WorkflowBuilder`` is open inside it. The
stack is a contextvar holding an immutable tuple: that is the only
module-level state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.workflow.dag import build_workflow
from cloacinactl.workflow.model import ParamSlot, TaskDef, TriggerDef, WorkflowDef


@dataclass(frozen=True)
class TaskSpec:
    """A declared task: its definition plus the live callables."""

    definition: TaskDef
    function: Callable[..., Any]
    on_success: Callable[..., Any] | None = None
    on_failure: Callable[..., Any] | None = None


@dataclass(frozen=True)
class TriggerSpec:
    definition: TriggerDef
    function: Callable[..., Any]


@dataclass
class Bucket:
    """Tasks and params being declared for one workflow."""

    name: str
    specs: dict[str, TaskSpec] = field(default_factory=dict)
    params: dict[str, ParamSlot] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def add(self, spec: TaskSpec) -> None:
        tid = spec.definition.id
        if tid in self.specs:
            raise CloacaError(
                f"duplicate task id {tid!r} in workflow {self.name!r} "
                f"(already defined by {self.specs[tid].definition.qualname})"
            )
        self.specs[tid] = spec

    def add_params(self, slots: list[ParamSlot]) -> None:
        for slot in slots:
            if slot.name in self.params:
                raise CloacaError(f"workflow {self.name!r}: param {slot.name!r} declared twice")
            self.params[slot.name] = slot

    def add_secrets(self, names: list[str]) -> None:
        for name in names:
            if name in self.secrets:
                raise CloacaError(f"workflow {self.name!r}: secret {name!r} declared twice")
            if name in self.params:
                raise CloacaError(
                    f"workflow {self.name!r}: {name!r} is declared as a param and a secret"
                )
            self.secrets.append(name)

    def build(self) -> WorkflowDef:
        try:
            return build_workflow(
                self.name,
                (s.definition for s in self.specs.values()),
                params=self.params.values(),
                secrets=self.secrets,
                description=self.description,
                tags=self.tags,
            )
        except CloacaError:
            raise
        except ValueError as exc:
            raise CloacaError(str(exc)) from None


@dataclass
class Collection:
    """What importing a package declared. Filled while :func:`collect` is active.

    After the ``with`` block: ``workflows`` (validated), ``triggers``, and the
    live callables through :meth:`task_function` / :meth:`trigger_function`.
    """

    workflow_name: str
    default: Bucket = field(init=False)
    workflows: dict[str, WorkflowDef] = field(default_factory=dict)
    triggers: list[TriggerDef] = field(default_factory=list)
    _tasks: dict[tuple[str, str], TaskSpec] = field(default_factory=dict, repr=False)
    _triggers: dict[str, TriggerSpec] = field(default_factory=dict, repr=False)
    graph_set: Any = field(default=None, repr=False)  # cloaca.graphs.GraphSet, made on first use

    def __post_init__(self) -> None:
        self.default = Bucket(self.workflow_name)

    # -- filled by decorators
    def add_workflow(self, bucket: Bucket, definition: WorkflowDef) -> None:
        if definition.name in self.workflows:
            raise CloacaError(f"workflow {definition.name!r} is defined twice")
        self.workflows[definition.name] = definition
        for tid, spec in bucket.specs.items():
            self._tasks[(definition.name, tid)] = spec

    def add_trigger(self, spec: TriggerSpec) -> None:
        name = spec.definition.name
        if name in self._triggers:
            raise CloacaError(f"duplicate trigger name {name!r}")
        self._triggers[name] = spec
        self.triggers.append(spec.definition)

    def finish(self) -> None:
        """Validate the default workflow (when it has tasks) and freeze it in."""
        if self.default.specs:
            if self.default.name in self.workflows:
                raise CloacaError(
                    f"workflow {self.default.name!r} is defined twice "
                    "(by a WorkflowBuilder and by top-level tasks)"
                )
            self.add_workflow(self.default, self.default.build())
        elif self.default.name not in self.workflows:
            for what, declared in (
                ("params", self.default.params),
                ("secrets", self.default.secrets),
            ):
                if declared:
                    raise CloacaError(
                        f"workflow_{what} declared for workflow {self.default.name!r}, "
                        "which has no tasks"
                    )

    # -- read by workers
    def task_function(self, workflow: str, task_id: str) -> Callable[..., Any]:
        return self.task_spec(workflow, task_id).function

    def task_spec(self, workflow: str, task_id: str) -> TaskSpec:
        try:
            return self._tasks[(workflow, task_id)]
        except KeyError:
            raise CloacaError(f"no task {task_id!r} in workflow {workflow!r}") from None

    def task_callbacks(
        self, workflow: str, task_id: str
    ) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
        """``(on_success, on_failure)`` of a task, either may be None."""
        spec = self.task_spec(workflow, task_id)
        return spec.on_success, spec.on_failure

    def trigger_function(self, name: str) -> Callable[..., Any]:
        try:
            return self._triggers[name].function
        except KeyError:
            raise CloacaError(f"no trigger {name!r}") from None


class BuilderScope:
    """The scope a ``WorkflowBuilder`` opens; tasks defined inside go into ``bucket``."""

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket


Scope = Collection | BuilderScope

_SCOPES: ContextVar[tuple[Scope, ...]] = ContextVar("cloaca_scopes", default=())


def scopes() -> tuple[Scope, ...]:
    return _SCOPES.get()


@contextlib.contextmanager
def pushed(scope: Scope) -> Iterator[None]:
    token = _SCOPES.set((*_SCOPES.get(), scope))
    try:
        yield
    finally:
        _SCOPES.reset(token)


def innermost() -> Scope | None:
    stack = _SCOPES.get()
    return stack[-1] if stack else None


def current_collection() -> Collection | None:
    for scope in reversed(_SCOPES.get()):
        if isinstance(scope, Collection):
            return scope
    return None


def current_bucket() -> Bucket | None:
    """The bucket a task declared now belongs to (None outside any scope)."""
    scope = innermost()
    if isinstance(scope, BuilderScope):
        return scope.bucket
    if isinstance(scope, Collection):
        return scope.default
    return None


@contextlib.contextmanager
def collect(workflow_name: str) -> Iterator[Collection]:
    """Collect everything declared while active; validate on a clean exit.

    Usage (the loader)::

        with collect(manifest.workflow_name) as collection:
            importlib.import_module(manifest.entry_module)
        collection.workflows, collection.triggers, collection.task_function(wf, tid)
    """
    if not workflow_name:
        raise CloacaError("collect() needs a workflow name")
    collection = Collection(workflow_name)
    with pushed(collection):
        yield collection
    collection.finish()

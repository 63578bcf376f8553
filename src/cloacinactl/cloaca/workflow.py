"""``WorkflowBuilder``, ``Workflow``, ``workflow_params`` and ``workflow_secrets``."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from cloacinactl.cloaca import registry
from cloacinactl.cloaca.errors import CloacaError
from cloacinactl.cloaca.task import TASK_ATTR
from cloacinactl.workflow.context import ContextError, to_json_value
from cloacinactl.workflow.dag import execution_levels
from cloacinactl.workflow.model import ParamSlot, WorkflowDef

_TYPE_NAMES: dict[Any, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "dict",
    Any: "any",
}


class Workflow:
    """A built, validated workflow (what ``WorkflowBuilder.build()`` returns)."""

    def __init__(self, definition: WorkflowDef, bucket: registry.Bucket) -> None:
        self.definition = definition
        self._bucket = bucket

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def description(self) -> str | None:
        return self.definition.description

    @property
    def version(self) -> str:
        return self.definition.version

    def topological_sort(self) -> list[str]:
        return list(self.definition.task_ids)

    def get_roots(self) -> list[str]:
        return list(self.definition.roots)

    def get_leaves(self) -> list[str]:
        deps = self.definition.dependents
        return [t for t in self.definition.task_ids if not deps[t]]

    def get_execution_levels(self) -> list[list[str]]:
        return execution_levels(self.definition)

    def can_run_parallel(self, a: str, b: str) -> bool:
        from cloacinactl.workflow.dag import ancestors

        deps = {t.id: t.dependencies for t in self.definition.tasks}
        return a != b and a not in ancestors(deps, b) and b not in ancestors(deps, a)

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, tasks={self.topological_sort()!r})"


class WorkflowBuilder:
    """Declare a workflow in-process. As a context manager, tasks defined inside
    register into it, and on exit it is built and (inside a loader's collector)
    registered."""

    def __init__(self, name: str, *, description: str | None = None, **_: Any) -> None:
        if not isinstance(name, str) or not name:
            raise CloacaError(f"WorkflowBuilder needs a non-empty name, got {name!r}")
        self._bucket = registry.Bucket(name, description=description)
        self._token: Any = None
        self._scope = registry.BuilderScope(self._bucket)
        self._cm: Any = None
        self.workflow: Workflow | None = None

    @property
    def name(self) -> str:
        return self._bucket.name

    def description(self, text: str) -> WorkflowBuilder:
        self._bucket.description = text
        return self

    def tag(self, key: str, value: str) -> WorkflowBuilder:
        self._bucket.tags[str(key)] = str(value)
        return self

    def add_task(self, task: Any) -> WorkflowBuilder:
        """Add a task declared elsewhere, by id or by its decorated function."""
        spec = getattr(task, TASK_ATTR, None)
        if isinstance(spec, registry.TaskSpec):
            tid = spec.definition.id
        elif isinstance(task, str):
            tid = task
            if tid in self._bucket.specs:
                return self
            spec = self._find(tid)
        else:
            raise CloacaError(
                f"add_task() takes a task id or a @cloaca.task function, got {task!r}"
            )
        if tid in self._bucket.specs:
            if self._bucket.specs[tid] is spec:
                return self
            raise CloacaError(f"workflow {self.name!r}: duplicate task id {tid!r}")
        # a task claimed by a builder leaves the loader's default workflow
        collection = registry.current_collection()
        if collection is not None and collection.default.specs.get(tid) is spec:
            del collection.default.specs[tid]
        self._bucket.add(spec)
        return self

    def _find(self, tid: str) -> registry.TaskSpec:
        collection = registry.current_collection()
        if collection is not None:
            found = collection.default.specs.get(tid)
            if found is not None:
                return found
        raise CloacaError(
            f"workflow {self.name!r}: unknown task {tid!r} "
            "(define it with @cloaca.task before adding it, or pass the function)"
        )

    def build(self) -> Workflow:
        """Validate (unknown dependency, cycle, duplicate id) and return the Workflow."""
        self.workflow = Workflow(self._bucket.build(), self._bucket)
        return self.workflow

    def __enter__(self) -> WorkflowBuilder:
        self._cm = registry.pushed(self._scope)
        self._cm.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cm, self._cm = self._cm, None
        cm.__exit__(exc_type, exc, tb)
        if exc_type is None:
            register_workflow(self.build())


def register_workflow(workflow: Workflow) -> None:
    """Register a built workflow into the active collector (no-op outside one)."""
    collection = registry.current_collection()
    if collection is not None:
        collection.add_workflow(workflow._bucket, workflow.definition)


def register_workflow_constructor(name: str, constructor: Callable[[], Workflow]) -> None:
    """Upstream's registration hook: calls ``constructor()`` now and registers the result."""
    built = constructor()
    if not isinstance(built, Workflow):
        raise CloacaError(
            f"workflow constructor for {name!r} returned {type(built).__name__}, not a Workflow"
        )
    if built.name != name:
        raise CloacaError(f"workflow constructor for {name!r} built workflow {built.name!r}")
    register_workflow(built)


def _slot(name: str, spec: Any) -> ParamSlot:
    default: Any = None
    required = True
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise CloacaError(f"workflow_params: {name}= takes a type or (type, default)")
        spec, default = spec
        required = False
        try:
            default = to_json_value(default, f"default of param {name!r}")
        except ContextError as exc:
            raise CloacaError(str(exc)) from None
    type_name = spec if isinstance(spec, str) else _TYPE_NAMES.get(spec)
    if type_name is None or type_name not in _TYPE_NAMES.values():
        raise CloacaError(
            f"workflow_params: {name}= has unsupported type {spec!r}; "
            "use str, int, float, bool, list or dict"
        )
    return ParamSlot(name, type_name, required, default)


def workflow_params(**slots: Any) -> Callable[[Any], Any]:
    """Declare typed inputs: ``name=type`` (required) or ``name=(type, default)``.

    Works as a decorator (upstream's form, returns the object unchanged) or as
    a plain call; the params belong to the workflow being declared.
    """
    parsed = [_slot(n, s) for n, s in slots.items()]
    bucket = registry.current_bucket()
    if bucket is not None:
        bucket.add_params(parsed)

    def passthrough(obj: Any) -> Any:
        return obj

    return passthrough


def workflow_secrets(*names: str) -> Callable[[Any], Any]:
    """Declare secret slots by name; a task reads them with ``context.secret(name)``
    or ``context.secret_field(name, field)``.

    A run binds each slot to a stored secret with ``{"<slot>": {"$secret": "<name>"}}``
    in its context (an unbound slot uses the secret of the slot's own name). The
    value reaches the task out of band, never through the context. Works as a
    decorator (returns the object unchanged) or as a plain call.
    """
    for name in names:
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise CloacaError(
                f"workflow_secrets: a slot name is a non-empty string not starting with $, "
                f"got {name!r}"
            )
    bucket = registry.current_bucket()
    if bucket is not None:
        bucket.add_secrets(list(names))

    def passthrough(obj: Any) -> Any:
        return obj

    return passthrough

"""The server's Prometheus metrics (``GET /metrics``), one registry per process.

Labels are bounded: HTTP method (a fixed set), status code, workflow/task
status — never tenant names, workflow names or ids. The request families are
fed by the request middleware; the workflow and task families by whoever runs
executions, through :meth:`Metrics.workflow_finished`,
:meth:`Metrics.task_finished` and the ``active_*`` gauges.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RUN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "OTHER"


class Metrics:
    """The ``cloacina_*`` families of one server process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.api_requests = Counter(
            "cloacina_api_requests",
            "HTTP requests answered, by method and status code.",
            ["method", "status"],
            registry=r,
        )
        self.api_duration = Histogram(
            "cloacina_api_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.workflows = Counter(
            "cloacina_workflows", "Workflow executions finished, by status.", ["status"], registry=r
        )
        self.tasks = Counter(
            "cloacina_tasks", "Task executions finished, by status.", ["status"], registry=r
        )
        self.workflow_duration = Histogram(
            "cloacina_workflow_duration_seconds",
            "Workflow execution time, start to end.",
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.task_duration = Histogram(
            "cloacina_task_duration_seconds",
            "Task execution time, start to end.",
            buckets=RUN_BUCKETS,
            registry=r,
        )
        self.active_workflows = Gauge(
            "cloacina_active_workflows", "Workflow executions running now.", registry=r
        )
        self.active_tasks = Gauge("cloacina_active_tasks", "Tasks running now.", registry=r)
        self._request_children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def request_done(self, method: str, status: int, seconds: float) -> None:
        # the labelled children, looked up once per (method, status): prometheus-client's
        # labels() validates and locks on every call (bounded: methods map to a few
        # labels, statuses are the HTTP codes we answer)
        label = method_label(method)
        children = self._request_children.get((label, status))
        if children is None:
            children = (
                self.api_requests.labels(label, str(status)),
                self.api_duration.labels(label),
            )
            self._request_children[(label, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def workflow_finished(self, status: str, seconds: float | None) -> None:
        self.workflows.labels(status.lower()).inc()
        if seconds is not None:
            self.workflow_duration.observe(seconds)

    def task_finished(self, status: str, seconds: float | None) -> None:
        self.tasks.labels(status.lower()).inc()
        if seconds is not None:
            self.task_duration.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

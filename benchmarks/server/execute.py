"""Running workflows through the server: execute -> completed latency, execute throughput.

- latency: ``runs`` sequential executions of a 1-task workflow; each is timed from
  sending ``POST …/execute`` to the first ``GET …/executions/{id}`` that answers
  Completed (polled every ``POLL_S``, one keep-alive connection). Beside it the
  server's own view: the execution's ``created_at`` -> ``completed_at``.
- throughput: ``POST …/execute`` at 1 and 16 clients (the load generator of
  ``load.py``); the executions run meanwhile, as they would. Each measurement
  starts once the previous one's executions have all finished.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from cloacinactl.packages import pack_dir
from cloacinactl.packages.scaffold import scaffold

POLL_S = 0.001
ONE_TASK = "bench-one"  # workflow bench_one: a single task
FAN = "bench-fan"  # workflow bench_fan: start -> (left, right) -> finish

RECORD = """
import os

import cloaca


def record(context, name):
    log = context.get("log")
    if log:
        line = ("%s:%s\\n" % (context.get("run"), name)).encode()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    return context
"""

TASKS = {
    ONE_TASK: RECORD
    + """

@cloaca.task(id="only", dependencies=[])
def only(context):
    return record(context, "only")
""",
    FAN: RECORD
    + """

@cloaca.task(id="start", dependencies=[])
def start(context):
    return record(context, "start")


@cloaca.task(id="left", dependencies=["start"])
def left(context):
    return record(context, "left")


@cloaca.task(id="right", dependencies=["start"])
def right(context):
    return record(context, "right")


@cloaca.task(id="finish", dependencies=["left", "right"])
def finish(context):
    return record(context, "finish")
""",
}
TASK_COUNT = {ONE_TASK: 1, FAN: 4}


def workflow_of(package: str) -> str:
    return package.replace("-", "_")


def archive(package: str) -> bytes:
    """The packed ``.cloacina`` of one of the probe packages."""
    with tempfile.TemporaryDirectory(prefix="cloacina-bench-pkg-") as tmp:
        folder = scaffold(Path(tmp) / "src", package)
        (folder / "workflow" / workflow_of(package) / "tasks.py").write_text(TASKS[package])
        return pack_dir(folder, Path(tmp) / "out").path.read_bytes()


def upload(http: httpx.Client, package: str) -> None:
    files = {"file": ("p.cloacina", archive(package), "application/octet-stream")}
    r = http.post("/v1/tenants/public/workflows", files=files)
    if r.status_code != 201:
        raise SystemExit(f"upload of {package} failed: {r.status_code} {r.text}")


def execute_path(package: str) -> str:
    return f"/v1/tenants/public/workflows/{workflow_of(package)}/execute"


def _stamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def one_run(http: httpx.Client) -> tuple[float, float]:
    """Execute the 1-task workflow and poll it: (client ms, server ms)."""
    t0 = time.perf_counter()
    r = http.post(execute_path(ONE_TASK), json={"context": {}})
    if r.status_code != 202:
        raise SystemExit(f"execute failed: {r.status_code} {r.text}")
    path = f"/v1/tenants/public/executions/{r.json()['execution_id']}"
    while True:
        detail = http.get(path).json()
        if detail["status"] in ("Completed", "Failed", "Cancelled"):
            break
        time.sleep(POLL_S)
    elapsed = (time.perf_counter() - t0) * 1000
    if detail["status"] != "Completed":
        raise SystemExit(f"the probe execution ended {detail['status']}: {detail.get('error')}")
    server = (_stamp(detail["completed_at"]) - _stamp(detail["created_at"])) * 1000
    return elapsed, server


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * q) - 1)]


def latency(http: httpx.Client, runs: int) -> dict[str, float]:
    """p50/p99 over ``runs`` sequential executions (after 10 unmeasured ones)."""
    for _ in range(10):
        one_run(http)
    samples = [one_run(http) for _ in range(runs)]
    client = [c for c, _ in samples]
    server = [s for _, s in samples]
    return {
        "p50": statistics.median(client),
        "p99": percentile(client, 0.99),
        "server_p50": statistics.median(server),
        "server_p99": percentile(server, 0.99),
    }


def unfinished(http: httpx.Client) -> int:
    total = 0
    for status in ("Pending", "Running"):
        r = http.get("/v1/tenants/public/executions", params={"status": status, "limit": 1})
        total += int(r.json()["total"])
    return total


def settle(http: httpx.Client, timeout: float = 300.0) -> None:
    """Wait until every execution started so far has finished."""
    deadline = time.monotonic() + timeout
    while unfinished(http):
        if time.monotonic() > deadline:
            raise SystemExit("executions did not finish")
        time.sleep(0.2)


def body(context: dict[str, object] | None = None) -> bytes:
    return json.dumps({"context": context or {}}).encode()

"""The execution routes on a real cloacina-server: list (filters, paging), detail, tasks,
events (``since``), and the live event stream (order, ids, resume, end), shapes checked
against the upstream OpenAPI document. On SQLite, and once on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract import assert_shape
from server_helpers import RunningServer

from cloacinactl.cli.sse import SseDecoder, SseEvent
from cloacinactl.packages import pack_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEADLINE_S = 60.0
TERMINAL = ("Completed", "Failed", "Cancelled")
MANIFEST = """[package]
name = "slow"
version = "0.1.0"
interface = "cloacina-workflow-plugin"
interface_version = 1
extension = "cloacina"

[metadata]
language = "python"
workflow_name = "slow"
entry_module = "slow.tasks"
description = "Sleeps, then summarises; fails on request"
"""
TASKS = """import time
import cloaca


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    time.sleep(float(context.get("sleep") or 0))
    context.set("records", [3, 5, 8])
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    if context.get("fail"):
        raise RuntimeError("asked to fail")
    context.set("total", sum(context.get("records")))
    return context
"""


# -- helpers --------------------------------------------------------------------------
def slow_archive(root: Path) -> Path:
    """A two-task package, ``slow``: ``extract`` sleeps ``context.sleep`` seconds,
    ``summarize`` fails when ``context.fail``. No trigger (nothing runs by itself)."""
    pkg = root / "slow"
    (pkg / "workflow" / "slow").mkdir(parents=True, exist_ok=True)
    (pkg / "package.toml").write_text(MANIFEST)
    (pkg / "workflow" / "slow" / "__init__.py").write_text("")
    (pkg / "workflow" / "slow" / "tasks.py").write_text(TASKS)
    return pack_dir(pkg, root).path


def until(what: str, check: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def execute(client: httpx.Client, tenant: str, workflow: str, **context: Any) -> str:
    """Start a run (retrying while the tenant's runtime starts); its execution id."""

    def attempt() -> str | None:
        r = client.post(
            f"/v1/tenants/{tenant}/workflows/{workflow}/execute", json={"context": context}
        )
        if r.status_code in (404, 503):  # workflow not loaded yet / tenant starting
            return None
        assert r.status_code == 202, r.text
        return str(r.json()["execution_id"])

    return str(until(f"{workflow} to start", attempt))


def finished(client: httpx.Client, tenant: str, eid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = client.get(f"/v1/tenants/{tenant}/executions/{eid}").json()
        return body if body.get("status") in TERMINAL else None

    return dict(until(f"execution {eid} to end", done))


def stream(
    client: httpx.Client, path: str, after: int | None = None, stop: Any = None
) -> list[SseEvent]:
    """The stream's messages (read with the CLI's decoder) until it ends or ``stop(m)``;
    fail when it is still open after ``DEADLINE_S`` (keep-alive pings break the wait)."""
    headers = {"Accept": "text/event-stream"}
    if after is not None:
        headers["Last-Event-ID"] = str(after)
    decoder, messages = SseDecoder(), []
    deadline = time.monotonic() + DEADLINE_S
    with client.stream("GET", path, headers=headers, timeout=httpx.Timeout(20)) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            assert time.monotonic() < deadline, "the stream did not end"
            message = decoder.feed(line)
            if message is not None:
                messages.append(message)
                if stop is not None and stop(message):
                    break
    return messages


def payloads(messages: list[SseEvent]) -> list[dict[str, Any]]:
    """The execution events among the messages; each message's id is its sequence_num."""
    out = []
    for m in messages:
        if m.event == "end":
            continue
        body = json.loads(m.data)
        assert m.id == str(body["sequence_num"]) and m.event == body["event_type"], m
        assert_shape(body, "ExecutionEvent")
        out.append(body)
    return out


@dataclass(frozen=True)
class World:
    """A tenant with three finished runs: ``ok`` and ``failed`` of ``slow``, ``linear``."""

    tenant: str
    client: httpx.Client
    ok: str
    failed: str
    linear: str

    def path(self, *parts: str) -> str:
        return "/".join([f"/v1/tenants/{self.tenant}/executions", *parts])


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("archives")
    linear = pack_dir(EXAMPLES / "linear-pipeline", root).path
    return {"slow": slow_archive(root), "linear": linear}


def new_tenant(server: RunningServer, archives: dict[str, Path]) -> tuple[str, httpx.Client]:
    tenant = server.new_tenant("ex")
    client = server.client(server.new_key(tenant, "write"))
    for archive in archives.values():
        files = {"file": (archive.name, archive.read_bytes())}
        r = client.post(f"/v1/tenants/{tenant}/workflows", files=files)
        assert r.status_code == 201, r.text
    # the examples' cron schedules (every 30 s) would add runs the tests do not count
    for item in client.get(f"/v1/tenants/{tenant}/triggers").json()["items"]:
        name = item["trigger_name"] or item["workflow_name"]
        assert client.post(f"/v1/tenants/{tenant}/triggers/{name}/pause").status_code == 200
    return tenant, client


@pytest.fixture(scope="module")
def world(shared_server: RunningServer, archives: dict[str, Path]) -> World:
    tenant, client = new_tenant(shared_server, archives)
    ok = execute(client, tenant, "slow")
    failed = execute(client, tenant, "slow", fail=True)
    linear = execute(client, tenant, "linear_pipeline")
    for eid in (ok, failed, linear):
        finished(client, tenant, eid)
    return World(tenant, client, ok, failed, linear)


# -- list -----------------------------------------------------------------------------
def test_list_is_newest_first_with_filters(world: World) -> None:
    body = world.client.get(world.path()).json()
    assert_shape(body, "TenantListResponse_ExecutionSummary")
    assert body["tenant_id"] == world.tenant and body["total"] == 3
    assert [i["id"] for i in body["items"]] == [world.linear, world.failed, world.ok]
    first = body["items"][0]
    assert (first["workflow_name"], first["status"]) == ("linear_pipeline", "Completed")
    assert first["trigger_origin"] == "manual" and first["completed_at"]

    slow = world.client.get(world.path(), params={"workflow": "slow"}).json()
    assert [i["id"] for i in slow["items"]] == [world.failed, world.ok] and slow["total"] == 2
    for status in ("Failed", "failed"):
        failed = world.client.get(world.path(), params={"status": status}).json()
        assert [i["id"] for i in failed["items"]] == [world.failed], status
    both = world.client.get(world.path(), params={"workflow": "slow", "status": "Completed"})
    assert [i["id"] for i in both.json()["items"]] == [world.ok]
    none = {"items": [], "total": 0, "tenant_id": world.tenant}
    assert world.client.get(world.path(), params={"workflow": "nope"}).json() == none
    assert world.client.get(world.path(), params={"status": "Paused"}).json() == none
    # a status that does not exist is a mistake, not an empty list
    typo = world.client.get(world.path(), params={"status": "Complete"})
    assert typo.status_code == 400 and typo.json()["code"] == "invalid_request", typo.text
    assert "'Complete'" in typo.json()["error"] and "Completed" in typo.json()["error"]


def test_list_pages(world: World) -> None:
    page = world.client.get(world.path(), params={"limit": 1, "offset": 1}).json()
    assert [i["id"] for i in page["items"]] == [world.failed] and page["total"] == 3
    tail = world.client.get(world.path(), params={"limit": 2, "offset": 2}).json()
    assert [i["id"] for i in tail["items"]] == [world.ok]
    past = world.client.get(world.path(), params={"offset": 10}).json()
    assert past["items"] == [] and past["total"] == 3
    for bad in ({"limit": 0}, {"limit": 100000}, {"offset": -1}, {"limit": "x"}):
        r = world.client.get(world.path(), params=bad)
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == "invalid_pagination", bad
    assert world.client.get(world.path(), params={"limit": 1000}).status_code == 200


# -- one execution --------------------------------------------------------------------
def test_get_execution(world: World) -> None:
    body = world.client.get(world.path(world.ok)).json()
    assert_shape(body, "ExecutionDetail")
    assert body["tenant_id"] == world.tenant and body["execution_id"] == world.ok
    assert body["status"] == "Completed" and body["workflow_name"] == "slow"
    assert body["output_context"]["total"] == 16 and body["completed_at"]
    assert world.client.get(world.path(world.failed)).json()["status"] == "Failed"
    upper = world.client.get(world.path(world.ok.upper())).json()  # any spelling of the UUID
    assert upper["execution_id"] == world.ok


@pytest.mark.parametrize("suffix", ["", "/events", "/tasks", "/events/stream"])
def test_bad_and_unknown_ids(world: World, suffix: str) -> None:
    r = world.client.get(world.path("not-a-uuid") + suffix)
    assert r.status_code == 400 and r.json()["code"] == "invalid_execution_id", r.text
    r = world.client.get(world.path(str(uuid.uuid4())) + suffix)
    assert r.status_code == 404 and r.json()["code"] == "execution_not_found", r.text
    assert r.headers["content-type"] == "application/json"


def test_another_tenants_key_is_refused(shared_server: RunningServer, world: World) -> None:
    other = shared_server.new_tenant("other")
    outsider = shared_server.client(shared_server.new_key(other, "admin"))
    for suffix in ("", f"/{world.ok}", f"/{world.ok}/events", f"/{world.ok}/events/stream"):
        r = outsider.get(world.path() + suffix)
        assert r.status_code == 403 and r.json()["code"] == "tenant_access_denied", suffix
    reader = shared_server.client(shared_server.new_key(world.tenant, "read"))
    assert reader.get(world.path(world.ok, "tasks")).status_code == 200
    # and the same id asked of another tenant is unknown there
    r = shared_server.client().get(f"/v1/tenants/{other}/executions/{world.ok}")
    assert r.status_code == 404 and r.json()["code"] == "execution_not_found"


def test_tasks(world: World) -> None:
    body = world.client.get(world.path(world.failed, "tasks")).json()
    assert_shape(body, "ExecutionTasksResponse")
    assert body["tenant_id"] == world.tenant and body["execution_id"] == world.failed
    tasks = {t["task_name"]: t for t in body["tasks"]}
    assert (tasks["extract"]["status"], tasks["summarize"]["status"]) == ("Completed", "Failed")
    assert "asked to fail" in (tasks["summarize"]["last_error"] or "")


# -- events ---------------------------------------------------------------------------
def test_events(world: World) -> None:
    body = world.client.get(world.path(world.ok, "events")).json()
    assert_shape(body, "ExecutionEventsResponse")
    assert body["tenant_id"] == world.tenant and body["execution_id"] == world.ok
    seqs = [e["sequence_num"] for e in body["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert body["events"][-1]["event_type"] == "workflow_completed"
    assert len({e["id"] for e in body["events"]}) == len(seqs)


def test_events_since(world: World) -> None:
    path = world.path(world.ok, "events")
    everything = world.client.get(path).json()["events"]
    assert world.client.get(path, params={"since": "1h"}).json()["events"] == everything
    # an RFC 3339 time: events created at or after it, in any offset
    last = everything[-1]
    stamp = dt.datetime.fromisoformat(last["created_at"])
    for text in (last["created_at"], stamp.astimezone(dt.timezone(dt.timedelta(hours=2)))):
        recent = world.client.get(path, params={"since": str(text)}).json()["events"]
        assert recent and recent[-1] == last, text
        assert all(e["created_at"] >= last["created_at"] for e in recent)
    before = (stamp - dt.timedelta(hours=1)).isoformat()
    assert world.client.get(path, params={"since": before}).json()["events"] == everything
    future = (stamp + dt.timedelta(days=1)).isoformat()
    assert world.client.get(path, params={"since": future}).json()["events"] == []
    # a duration counts back from now: these events fall out of "1s" once a second old
    until(
        "events to be older than 1s",
        lambda: world.client.get(path, params={"since": "1s"}).json()["events"] == [],
        timeout=10,
    )


@pytest.mark.parametrize(
    "since", ["yesterday", "5x", "0s", "1m1h", "", "2024-13-01T00:00:00Z", "0001-01-01T00:00+01:00"]
)
def test_bad_since_is_400(world: World, since: str) -> None:
    r = world.client.get(world.path(world.ok, "events"), params={"since": since})
    assert r.status_code == 400 and r.json()["code"] == "invalid_since", r.text


# -- the stream -----------------------------------------------------------------------
def test_stream_of_a_finished_execution_sends_everything_and_ends(world: World) -> None:
    messages = stream(world.client, world.path(world.failed, "events", "stream"))
    events = payloads(messages)
    assert events == world.client.get(world.path(world.failed, "events")).json()["events"]
    assert events[-1]["event_type"] == "workflow_failed"
    assert messages[-1].event == "end" and messages[-1].id == str(events[-1]["sequence_num"])
    assert json.loads(messages[-1].data) == {"execution_id": world.failed, "status": "Failed"}


def test_last_event_id_resumes_after_it(world: World) -> None:
    path = world.path(world.ok, "events", "stream")
    everything = world.client.get(world.path(world.ok, "events")).json()["events"]
    rest = payloads(stream(world.client, path, after=3))
    assert rest == everything[3:]
    tail = stream(world.client, path, after=everything[-1]["sequence_num"])
    assert [m.event for m in tail] == ["end"]
    for bad in ("abc", "-1", "1.5", str(2**31)):
        r = world.client.get(path, headers={"Last-Event-ID": bad})
        assert r.status_code == 400 and r.json()["code"] == "invalid_last_event_id", bad


def test_live_stream_in_order_and_resumed(
    shared_server: RunningServer, archives: dict[str, Path]
) -> None:
    tenant, client = new_tenant(shared_server, {"slow": archives["slow"]})
    eid = execute(client, tenant, "slow", sleep=2)
    path = f"/v1/tenants/{tenant}/executions/{eid}"

    def extract_started(m: SseEvent) -> bool:
        return m.event == "task_started" and json.loads(m.data)["task_name"] == "extract"

    # first connection: stop once extract has started (it then sleeps 2 s)
    first = payloads(stream(client, f"{path}/events/stream", stop=extract_started))
    assert first[-1]["event_type"] == "task_started"
    assert client.get(path).json()["status"] == "Running"  # events came while it ran
    # second connection resumes after the last id seen, and ends with the run
    second_messages = stream(client, f"{path}/events/stream", after=first[-1]["sequence_num"])
    second = payloads(second_messages)
    assert second[-1]["event_type"] == "workflow_completed"
    assert second_messages[-1].event == "end"
    seqs = [e["sequence_num"] for e in first + second]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, nothing repeated or skipped
    assert first + second == client.get(f"{path}/events").json()["events"]
    assert client.get(path).json()["status"] == "Completed"
    # the first connection, closed by the client mid-stream, cost the server no error
    records = shared_server.log_records()
    assert not [r for r in records if str(r.get("message", "")).startswith("request failed")]
    assert not [r for r in records if r.get("level") == "ERROR"]


def test_cli_follows_the_stream(
    cli: Any, shared_server: RunningServer, archives: dict[str, Path]
) -> None:
    tenant, client = new_tenant(shared_server, {"slow": archives["slow"]})
    key = shared_server.new_key(tenant, "read")
    eid = execute(client, tenant, "slow", sleep=1, fail=True)
    flags = ("--server", shared_server.url, "--api-key", key, "--tenant", tenant)
    followed = cli(*flags, "execution", "events", eid, "--follow", "-o", "json")
    assert followed.returncode == 5, followed.stderr  # the run failed
    shown = [json.loads(line) for line in followed.stdout.splitlines()]
    assert shown == client.get(f"/v1/tenants/{tenant}/executions/{eid}/events").json()["events"]
    assert shown[-1]["event_type"] == "workflow_failed"


# -- both databases -------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request: pytest.FixtureRequest) -> RunningServer:
    name = "shared_server" if request.param == "sqlite" else "pg_server"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def test_round_trip(any_server: RunningServer, archives: dict[str, Path]) -> None:
    tenant, client = new_tenant(any_server, {"slow": archives["slow"]})
    eid = execute(client, tenant, "slow", sleep=0.5)
    base = f"/v1/tenants/{tenant}/executions"
    live = payloads(stream(client, f"{base}/{eid}/events/stream"))
    assert live[-1]["event_type"] == "workflow_completed"
    assert [e["sequence_num"] for e in live] == list(range(1, len(live) + 1))
    detail = client.get(f"{base}/{eid}").json()
    assert_shape(detail, "ExecutionDetail")
    assert detail["status"] == "Completed"
    listed = client.get(base, params={"workflow": "slow", "limit": 5}).json()
    assert_shape(listed, "TenantListResponse_ExecutionSummary")
    assert [i["id"] for i in listed["items"]] == [eid]
    events = client.get(f"{base}/{eid}/events", params={"since": "1h"}).json()
    assert events["events"] == live
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert client.get(f"{base}/{eid}/events", params={"since": future}).json()["events"] == []
    tasks = client.get(f"{base}/{eid}/tasks").json()
    assert_shape(tasks, "ExecutionTasksResponse")
    assert {t["task_name"]: t["status"] for t in tasks["tasks"]} == {
        "extract": "Completed",
        "summarize": "Completed",
    }

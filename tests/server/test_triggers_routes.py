"""The trigger (schedule) routes against a real ``cloacina-server``: list, get, interface,
pause / resume (the running schedulers stop and start at once), and fire (a manual
execution of the trigger's workflow). Shapes are checked against upstream's OpenAPI
document; the fire flow also runs on PostgreSQL when CLOACINA_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from contract import assert_shape
from server_helpers import RunningServer

from cloacinactl.packages import pack_dir

T = TypeVar("T")
TERMINAL = {"Completed", "Failed", "Cancelled"}

# a workflow with a required and a defaulted param; a cron schedule that never fires
# during a test and a poll trigger that never fires
QUIET = '''
import cloaca


@cloaca.workflow_params(label=str, count=(int, 1))
@cloaca.task(id="echo", dependencies=[])
def echo(context):
    context.set("echoed", f"{context.get('label')}x{context.get('count')}")
    return context


@cloaca.trigger(name="yearly", on="quiet", cron="0 0 1 1 *")
def yearly():
    """Once a year."""


@cloaca.trigger(name="watch", on="quiet", poll_interval="60s")
def watch():
    return cloaca.TriggerResult.skip()
'''

# a cron schedule every second (6 fields, seconds first) and a poll trigger that always fires
BUSY = '''
import cloaca


@cloaca.task(id="tick", dependencies=[])
def tick(context):
    return context


@cloaca.trigger(name="every_second", on="ticker", cron="* * * * * *")
def every_second():
    """Every second."""


@cloaca.trigger(name="always", on="ticker", poll_interval="1s")
def always():
    return cloaca.TriggerResult.fire({"polled": True})
'''


# -- helpers ----------------------------------------------------------------------------


def archive(tmp_path: Path, workflow: str, tasks: str) -> bytes:
    """A ``.cloacina`` archive of a one-workflow package named ``workflow``."""
    root = tmp_path / f"pkg-{workflow}"
    module = root / "workflow" / workflow
    module.mkdir(parents=True)
    (root / "package.toml").write_text(
        f'[package]\nname = "{workflow}"\nversion = "0.1.0"\n\n'
        f'[metadata]\nworkflow_name = "{workflow}"\ndescription = "trigger routes test"\n'
    )
    (module / "__init__.py").write_text("")
    (module / "tasks.py").write_text(tasks)
    return pack_dir(root, tmp_path).path.read_bytes()


def upload(client: httpx.Client, tenant: str, data: bytes) -> None:
    r = client.post(
        f"/v1/tenants/{tenant}/workflows",
        files={"file": ("pkg.cloacina", data, "application/octet-stream")},
    )
    assert r.status_code == 201, r.text


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something other than None (or fail at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def execution(server: RunningServer, tenant: str, execution_id: str) -> dict[str, Any]:
    r = server.client().get(f"/v1/tenants/{tenant}/executions/{execution_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def finished(server: RunningServer, tenant: str, execution_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = execution(server, tenant, execution_id)
        return found if found["status"] in TERMINAL else None

    return wait_for(f"execution {execution_id} to finish", probe)


def detail(client: httpx.Client, tenant: str, name: str) -> dict[str, Any]:
    r = client.get(f"/v1/tenants/{tenant}/triggers/{name}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert_shape(body, "TriggerDetailResponse")
    return body


def recent_ids(client: httpx.Client, tenant: str, name: str) -> set[str]:
    return {e["id"] for e in detail(client, tenant, name)["recent_executions"]}


def error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert_shape(r.json(), "ErrorBody")
    assert r.json()["code"] == code, r.text


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request: pytest.FixtureRequest) -> RunningServer:
    name = "server" if request.param == "sqlite" else "pg_server"
    found: RunningServer = request.getfixturevalue(name)
    return found


# -- list, get, interface -------------------------------------------------------------------


def test_list_pages_through_the_schedules(shared_server: RunningServer, tmp_path: Path) -> None:
    admin = shared_server.client()
    tenant = shared_server.new_tenant()
    empty = admin.get(f"/v1/tenants/{tenant}/triggers").json()
    assert empty == {"items": [], "total": 0, "tenant_id": tenant}
    upload(admin, tenant, archive(tmp_path, "quiet", QUIET))

    r = admin.get(f"/v1/tenants/{tenant}/triggers")
    assert r.status_code == 200, r.text
    body = r.json()
    assert_shape(body, "TenantListResponse_TriggerScheduleSummary")
    assert body["total"] == 2 and body["tenant_id"] == tenant
    by_name = {row["trigger_name"]: row for row in body["items"]}
    assert set(by_name) == {"yearly", "watch"}
    cron, poll = by_name["yearly"], by_name["watch"]
    assert cron["schedule_type"] == "cron" and cron["cron_expression"] == "0 0 1 1 *"
    assert poll["schedule_type"] == "trigger" and poll["poll_interval_ms"] == 60_000
    assert poll["cron_expression"] is None
    assert {row["workflow_name"] for row in body["items"]} == {"quiet"}
    assert not cron["paused"] and cron["enabled"] and cron["created_at"].endswith("Z")
    # a cron schedule says when it fires next (0 0 1 1 *: the next 1 January, UTC)
    now = dt.datetime.now(dt.UTC)
    assert cron["next_run_at"] == f"{now.year + 1}-01-01T00:00:00Z"
    assert poll["next_run_at"] is None  # a poll trigger fires when its check says so
    assert admin.post(f"/v1/tenants/{tenant}/triggers/yearly/pause").status_code == 200
    paused = admin.get(f"/v1/tenants/{tenant}/triggers/yearly").json()["schedule"]
    assert paused["next_run_at"] is None
    assert admin.post(f"/v1/tenants/{tenant}/triggers/yearly/resume").status_code == 200

    # pages: limit/offset split the same ordered list; out of range is a 400
    page1 = admin.get(f"/v1/tenants/{tenant}/triggers", params={"limit": 1}).json()
    page2 = admin.get(f"/v1/tenants/{tenant}/triggers", params={"limit": 1, "offset": 1}).json()
    assert page1["total"] == page2["total"] == 2
    assert [p["items"][0]["id"] for p in (page1, page2)] == [i["id"] for i in body["items"]]
    past = admin.get(f"/v1/tenants/{tenant}/triggers", params={"offset": 5}).json()
    assert past["items"] == [] and past["total"] == 2
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"limit": "many"}):
        error(admin.get(f"/v1/tenants/{tenant}/triggers", params=bad), 400, "invalid_pagination")
    error(admin.get("/v1/tenants/no_such_tenant/triggers"), 404, "tenant_not_found")

    # a read key lists too
    reader = shared_server.client(shared_server.new_key(tenant, "read"))
    assert reader.get(f"/v1/tenants/{tenant}/triggers").json()["total"] == 2


def test_get_and_interface(shared_server: RunningServer, tmp_path: Path) -> None:
    admin = shared_server.client()
    tenant = shared_server.new_tenant()
    upload(admin, tenant, archive(tmp_path, "quiet", QUIET))

    body = detail(admin, tenant, "yearly")
    schedule = body["schedule"]
    assert body["tenant_id"] == tenant and body["recent_executions"] == []
    assert schedule["trigger_name"] == "yearly" and schedule["workflow_name"] == "quiet"
    assert schedule["schedule_type"] == "cron" and schedule["paused"] is False
    assert schedule["next_run_at"].endswith("-01-01T00:00:00Z")
    # the same schedule by its id; by the workflow's name one of its schedules
    assert detail(admin, tenant, schedule["id"])["schedule"] == schedule
    assert detail(admin, tenant, "quiet")["schedule"]["workflow_name"] == "quiet"
    assert detail(admin, tenant, "watch")["schedule"]["poll_interval_ms"] == 60_000
    error(admin.get(f"/v1/tenants/{tenant}/triggers/nope"), 404, "trigger_not_found")

    r = admin.get(f"/v1/tenants/{tenant}/triggers/yearly/interface")
    assert r.status_code == 200, r.text
    surface = r.json()
    # upstream documents InputSlot.default as object|null, yet a param's default is any
    # JSON value (count's is 1): the shape is checked without it
    bare = [{k: v for k, v in s.items() if k != "default"} for s in surface["slots"]]
    assert_shape({**surface, "slots": bare}, "DeclaredSurface")
    assert surface["kind"] == "trigger" and surface["name"] == "yearly"
    slots = {s["name"]: s for s in surface["slots"]}
    assert slots["label"]["required"] is True and slots["label"]["schema"] == {"type": "string"}
    assert slots["count"]["required"] is False and slots["count"]["default"] == 1
    assert slots["count"]["schema"] == {"type": "integer"}
    # every trigger of the workflow has the same interface
    watch = admin.get(f"/v1/tenants/{tenant}/triggers/watch/interface").json()
    assert watch["name"] == "watch" and watch["slots"] == surface["slots"]
    error(admin.get(f"/v1/tenants/{tenant}/triggers/nope/interface"), 404, "trigger_not_found")

    # a trigger of another tenant is not found here
    other = shared_server.new_tenant()
    error(admin.get(f"/v1/tenants/{other}/triggers/yearly"), 404, "trigger_not_found")


# -- fire -------------------------------------------------------------------------------


def test_fire_starts_a_manual_execution(any_server: RunningServer, tmp_path: Path) -> None:
    server = any_server
    admin = server.client()
    tenant = server.new_tenant()
    upload(admin, tenant, archive(tmp_path, "quiet", QUIET))
    fire = f"/v1/tenants/{tenant}/triggers/yearly/fire"

    # the event is checked against the workflow's params: label is required
    error(admin.post(fire), 400, "workflow_input_invalid")  # no body: no event
    error(admin.post(fire, json={}), 400, "workflow_input_invalid")
    error(admin.post(fire, json={"event": {"label": 3}}), 400, "workflow_input_invalid")
    error(admin.post(fire, json={"event": [1, 2]}), 400, "invalid_request")
    error(admin.post(fire, json={"event": {}, "extra": 1}), 400, "invalid_request")
    error(admin.post(f"/v1/tenants/{tenant}/triggers/nope/fire", json={}), 404, "trigger_not_found")

    r = admin.post(fire, json={"event": {"label": "hi"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_shape(body, "FireTriggerResponse")
    assert body["tenant_id"] == tenant and body["trigger"] == "yearly" and body["fired"] == 1
    (started,) = body["executions"]
    assert started["workflow_name"] == "quiet"

    done = finished(server, tenant, started["execution_id"])
    assert done["status"] == "Completed", done
    assert done["trigger_origin"] == "manual"
    assert done["input_context"]["trigger_name"] == "yearly"
    assert done["input_context"]["label"] == "hi" and "triggered_at" in done["input_context"]
    assert done["output_context"]["echoed"] == "hix1"  # count's default was filled in

    # the fire is one of the schedule's recent executions, finished
    (recent,) = detail(admin, tenant, "yearly")["recent_executions"]
    assert recent["id"] == started["execution_id"] and recent["completed_at"] is not None
    assert detail(admin, tenant, "watch")["recent_executions"] == []

    # a paused workflow is not fired; resumed, it is
    r = admin.post(f"/v1/tenants/{tenant}/workflows/quiet/pause")
    assert r.status_code == 200, r.text
    error(admin.post(fire, json={"event": {"label": "x"}}), 409, "workflow_paused")
    assert admin.post(f"/v1/tenants/{tenant}/workflows/quiet/resume").status_code == 200
    again = admin.post(fire, json={"event": {"label": "x"}})
    assert again.status_code == 200, again.text

    # a paused schedule can still be fired by hand
    paused = admin.post(f"/v1/tenants/{tenant}/triggers/yearly/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    by_hand = admin.post(fire, json={"event": {"label": "y"}})
    assert by_hand.status_code == 200, by_hand.text
    finished(server, tenant, by_hand.json()["executions"][0]["execution_id"])


SUBSCRIBER = '''
import cloaca

{params}


@cloaca.task(id="note", dependencies=[])
def note(context):
    context.set("noted_by", "{name}")
    return context


@cloaca.trigger(name="shared", on="{name}", cron="0 0 1 1 *")
def shared():
    """Once a year, and by hand."""
'''


def test_fire_fans_out_to_every_subscribed_workflow(
    shared_server: RunningServer, tmp_path: Path
) -> None:
    server = shared_server
    admin = server.client()
    tenant = server.new_tenant()
    for name, params in (("alpha", "cloaca.workflow_params(label=str)"), ("beta", "")):
        upload(admin, tenant, archive(tmp_path, name, SUBSCRIBER.format(name=name, params=params)))
    fire = f"/v1/tenants/{tenant}/triggers/shared/fire"

    def executions() -> int:
        r = admin.get(f"/v1/tenants/{tenant}/executions")
        return int(r.json()["total"])

    # alpha needs a label: the event is refused and neither workflow starts
    error(admin.post(fire, json={"event": {}}), 400, "workflow_input_invalid")
    assert executions() == 0

    r = admin.post(fire, json={"event": {"label": "both"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert_shape(body, "FireTriggerResponse")
    assert body["trigger"] == "shared" and body["fired"] == 2
    started = {e["workflow_name"]: e["execution_id"] for e in body["executions"]}
    assert set(started) == {"alpha", "beta"}
    for name, eid in started.items():
        done = finished(server, tenant, eid)
        assert done["status"] == "Completed" and done["trigger_origin"] == "manual"
        assert done["output_context"]["noted_by"] == name
        assert done["input_context"]["trigger_name"] == "shared"

    # a paused subscriber is skipped; all paused: 409
    assert admin.post(f"/v1/tenants/{tenant}/workflows/alpha/pause").status_code == 200
    r = admin.post(fire, json={"event": {"label": "one"}})
    assert r.status_code == 200 and r.json()["fired"] == 1, r.text
    assert [e["workflow_name"] for e in r.json()["executions"]] == ["beta"]
    assert admin.post(f"/v1/tenants/{tenant}/workflows/beta/pause").status_code == 200
    error(admin.post(fire, json={"event": {"label": "none"}}), 409, "workflow_paused")
    # a workflow's own name still fires that one workflow
    assert admin.post(f"/v1/tenants/{tenant}/workflows/beta/resume").status_code == 200
    r = admin.post(f"/v1/tenants/{tenant}/triggers/beta/fire", json={"event": {}})
    assert r.status_code == 200 and r.json()["fired"] == 1, r.text


def test_fire_is_a_write(shared_server: RunningServer, tmp_path: Path) -> None:
    admin = shared_server.client()
    tenant = shared_server.new_tenant()
    upload(admin, tenant, archive(tmp_path, "quiet", QUIET))
    reader = shared_server.client(shared_server.new_key(tenant, "read"))
    path = f"/v1/tenants/{tenant}/triggers/yearly"
    error(
        reader.post(f"{path}/fire", json={"event": {"label": "x"}}), 403, "insufficient_permissions"
    )
    error(reader.post(f"{path}/pause"), 403, "insufficient_permissions")
    assert detail(admin, tenant, "yearly")["recent_executions"] == []
    assert detail(admin, tenant, "yearly")["schedule"]["paused"] is False


def test_cli_trigger_commands(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    shared_server: RunningServer,
    tmp_path: Path,
) -> None:
    """What ``cloacinactl trigger`` sends is what the routes take, and the reverse."""
    tenant = shared_server.new_tenant()
    upload(shared_server.client(), tenant, archive(tmp_path, "quiet", QUIET))
    flags = ("--server", shared_server.url, "--api-key", shared_server.key, "--tenant", tenant)

    def ok(*args: str) -> str:
        result = cli(*flags, "trigger", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert sorted(ok("list", "-o", "id").split()) == ["watch", "yearly"]
    context = tmp_path / "event.json"
    context.write_text(json.dumps({"label": "cli", "count": 2}))
    (execution_id,) = ok("fire", "yearly", "--context", str(context), "-o", "id").split()
    done = finished(shared_server, tenant, execution_id)
    assert done["status"] == "Completed" and done["output_context"]["echoed"] == "clix2"
    # without --context the CLI sends {}: the required param is missing
    bare = cli(*flags, "trigger", "fire", "yearly")
    assert bare.returncode != 0 and "label" in bare.stderr
    ok("pause", "yearly")
    assert json.loads(ok("inspect", "yearly", "-o", "json"))["schedule"]["paused"] is True
    ok("resume", "yearly")
    assert json.loads(ok("inspect", "yearly", "-o", "json"))["schedule"]["paused"] is False


# -- pause / resume -------------------------------------------------------------------


def _pause(client: httpx.Client, tenant: str, name: str, verb: str) -> dt.datetime:
    """Pause or resume ``name``; the time it answered."""
    r = client.post(f"/v1/tenants/{tenant}/triggers/{name}/{verb}")
    answered = dt.datetime.now(dt.UTC)
    assert r.status_code == 200, r.text
    body = r.json()
    assert_shape(body, "TriggerPauseResponse")
    paused = verb == "pause"
    assert body == {
        "tenant_id": tenant,
        "id": detail(client, tenant, name)["schedule"]["id"],
        "name": name,
        "status": "paused" if paused else "resumed",
        "paused": paused,
    }
    assert detail(client, tenant, name)["schedule"]["paused"] is paused
    return answered


def _grows(client: httpx.Client, tenant: str, name: str, seen: set[str], by: int) -> set[str]:
    def probe() -> set[str] | None:
        ids = recent_ids(client, tenant, name)
        return ids if len(ids - seen) >= by else None

    return wait_for(f"{by} new executions of {name}", probe)


def _slots(client: httpx.Client, tenant: str) -> list[dt.datetime]:
    """The cron slots of every_second's recent executions."""
    recent = detail(client, tenant, "every_second")["recent_executions"]
    return [dt.datetime.fromisoformat(e["scheduled_time"]) for e in recent]


def test_pause_stops_the_schedulers_and_resume_restarts_them(
    server: RunningServer, tmp_path: Path
) -> None:
    admin = server.client()
    tenant = server.new_tenant()
    upload(admin, tenant, archive(tmp_path, "ticker", BUSY))
    for name in ("every_second", "always"):  # both run on their own
        _grows(admin, tenant, name, set(), 2)

    # paused, the cron scheduler fires no slot after the pause answered. Sent late in a
    # second, so a pause that reached the scheduler only later (on the next reconcile)
    # would let the next slot fire.
    time.sleep((0.9 - time.time() % 1.0) % 1.0)
    paused_at = _pause(admin, tenant, "every_second", "pause")
    _pause(admin, tenant, "always", "pause")
    polled = recent_ids(admin, tenant, "always")
    listed = admin.get(f"/v1/tenants/{tenant}/triggers").json()["items"]
    assert [row["paused"] for row in listed] == [True, True]
    # for 4 s (4 cron slots, 4+ polls); a poll under way at the pause may still fire once
    window_end = time.monotonic() + 4.0
    while time.monotonic() < window_end:
        late = [s for s in _slots(admin, tenant) if s > paused_at]
        assert not late, f"cron slots fired while paused: {late}"
        new = recent_ids(admin, tenant, "always") - polled
        assert len(new) <= 1, f"the poll trigger fired {len(new)} times while paused"
        time.sleep(0.2)
    before_resume = {name: recent_ids(admin, tenant, name) for name in ("every_second", "always")}

    resumed_at = dt.datetime.now(dt.UTC)
    _pause(admin, tenant, "every_second", "resume")
    _pause(admin, tenant, "always", "resume")
    for name, seen in before_resume.items():
        _grows(admin, tenant, name, seen, 2)
    # the slots that fell while paused were skipped, not caught up
    missed = [s for s in _slots(admin, tenant) if paused_at < s < resumed_at]
    assert not missed, f"slots of the paused time were fired: {missed}"

    error(admin.post(f"/v1/tenants/{tenant}/triggers/nope/pause"), 404, "trigger_not_found")
    error(admin.post(f"/v1/tenants/{tenant}/triggers/nope/resume"), 404, "trigger_not_found")
    assert admin.delete(f"/v1/tenants/{tenant}").status_code == 200

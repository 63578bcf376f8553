"""OpenTelemetry traces of a real server, received by a real OTLP collector endpoint
in the test (gRPC and HTTP): request → execution → task spans in one trace, failures
marked, the service name; without the extra the server warns and serves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_workflows_routes import package_archive, upload, wait_done

grpc = pytest.importorskip("grpc", reason="the otel extra (grpcio) is not installed")
pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
from opentelemetry.proto.collector.trace.v1 import (  # noqa: E402
    trace_service_pb2,
    trace_service_pb2_grpc,
)

TASKS = """
import cloaca


@cloaca.task(id="extract", dependencies=[])
def extract(context):
    if context.get("explode"):
        raise RuntimeError("extract blew up on purpose")
    context.set("rows", 3)
    return context


@cloaca.task(id="summarize", dependencies=["extract"])
def summarize(context):
    return context
"""

FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}  # ms between the batch processor's sends


@dataclass
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent: str
    attributes: dict[str, Any]
    status: int  # 0 unset, 1 ok, 2 error
    message: str
    start_ns: int
    end_ns: int


class Received:
    """Spans an OTLP endpoint of the test was sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    def add(self, request: Any) -> None:
        with self.lock:
            for resource in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for sp in scope.spans:
                        self.spans.append(
                            Span(
                                attrs.get("service.name", ""),
                                sp.name,
                                sp.trace_id.hex(),
                                sp.span_id.hex(),
                                sp.parent_span_id.hex(),
                                {a.key: _value(a.value) for a in sp.attributes},
                                sp.status.code,
                                sp.status.message,
                                sp.start_time_unix_nano,
                                sp.end_time_unix_nano,
                            )
                        )

    def wait(self, pred: Any, what: str, timeout: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [sp for sp in self.spans if pred(sp)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {what} span received; got {[s.name for s in self.spans]}")


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


@pytest.fixture
def grpc_collector() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.add(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


@pytest.fixture
def http_collector() -> Iterator[tuple[str, Received, list[str]]]:
    received = Received()
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            paths.append(self.path)
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.add(request)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", received, paths
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_request_execution_and_task_spans_form_one_trace(
    start_server: Any, grpc_collector: tuple[str, Received], tmp_path: Path
) -> None:
    endpoint, received = grpc_collector
    srv = start_server(None, env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, **FAST_EXPORT})
    http = srv.client()
    archive = package_archive(tmp_path, "traced-flow", TASKS).read_bytes()
    assert upload(http, "public", archive).status_code == 201
    runs = {}
    for label, ctx in (("ok", {}), ("failed", {"explode": True})):
        r = http.post("/v1/tenants/public/workflows/traced_flow/execute", json={"context": ctx})
        assert r.status_code == 202, r.text
        eid = r.json()["execution_id"]
        detail = wait_done(lambda eid=eid: http.get(f"/v1/tenants/public/executions/{eid}").json())
        runs[label] = (eid, detail["status"], r.headers["x-request-id"])
    assert runs["ok"][1] == "Completed" and runs["failed"][1] == "Failed"

    for label, (eid, status, request_id) in runs.items():
        [execution] = received.wait(
            lambda sp, eid=eid: (
                sp.attributes.get("cloacina.execution_id") == eid
                and sp.name.startswith("execution ")
            ),
            f"execution ({label})",
        )
        [request] = received.wait(
            lambda sp, rid=request_id: sp.attributes.get("cloacina.request_id") == rid,
            f"request ({label})",
        )
        assert request.service == execution.service == "cloacina"
        assert request.name == "POST /v1/tenants/{tenant}/workflows/{name}/execute"
        assert execution.name == "execution traced_flow"
        assert execution.trace_id == request.trace_id
        assert execution.parent == request.span_id
        assert execution.attributes["cloacina.execution_status"] == status
        assert execution.attributes["cloacina.tenant"] == "public"
        assert execution.end_ns >= execution.start_ns
        tasks = received.wait(
            lambda sp, e=execution: sp.parent == e.span_id, f"task ({label})", timeout=5
        )
        by_name = {sp.name: sp for sp in tasks}
        assert all(sp.trace_id == request.trace_id for sp in tasks)
        if label == "ok":
            assert set(by_name) == {"task extract", "task summarize"}
            assert execution.status != 2 and all(sp.status != 2 for sp in tasks)
            assert by_name["task extract"].end_ns <= by_name["task summarize"].start_ns
            assert by_name["task extract"].attributes["cloacina.attempt"] >= 1
        else:
            # summarize never ran: a zero-length span says how it ended
            assert set(by_name) == {"task extract", "task summarize"}
            never = by_name["task summarize"]
            assert never.attributes["cloacina.task_state"] == "Skipped"
            assert never.start_ns == never.end_ns and never.status != 2
            failed = by_name["task extract"]
            assert failed.status == 2 and "blew up on purpose" in failed.message
            assert failed.attributes["cloacina.task_state"] == "Failed"
            assert execution.status == 2


def test_http_protobuf_exporter_and_service_name(
    start_server: Any, http_collector: tuple[str, Received, list[str]]
) -> None:
    endpoint, received, paths = http_collector
    srv = start_server(
        None,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": "cloacina-edge",
            **FAST_EXPORT,
        },
    )
    assert srv.client().get("/v1/auth/whoami", headers={"x-request-id": "rq-77"}).is_success
    [span] = received.wait(lambda sp: sp.attributes.get("cloacina.request_id") == "rq-77", "whoami")
    assert span.name == "GET /v1/auth/whoami" and span.service == "cloacina-edge"
    assert span.attributes["http.response.status_code"] == 200
    assert set(paths) == {"/v1/traces"}


def test_unknown_protocol_warns_and_serves(start_server: Any) -> None:
    srv = start_server(
        None,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
        },
    )
    assert srv.client().get("/v1/auth/whoami").status_code == 200
    assert "'carrier-pigeon' is not one of grpc, http/protobuf" in srv.log.read_text()


def test_without_the_extra_the_server_warns_and_serves(start_server: Any, tmp_path: Path) -> None:
    # the API comes with FastAPI; the extra brings the SDK and exporters. An SDK earlier
    # on the path that fails to import stands for one not installed.
    shadow = tmp_path / "shadow"
    (shadow / "opentelemetry" / "sdk").mkdir(parents=True)
    (shadow / "opentelemetry" / "sdk" / "__init__.py").write_text(
        "raise ImportError('no opentelemetry-sdk here')\n"
    )
    srv = start_server(
        None,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "PYTHONPATH": str(shadow)},
    )
    assert srv.client().get("/v1/auth/whoami").status_code == 200
    assert "OpenTelemetry is not installed" in srv.log.read_text()

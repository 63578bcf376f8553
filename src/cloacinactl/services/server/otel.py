"""OpenTelemetry traces, only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Nothing of OpenTelemetry is imported otherwise. Without the ``otel`` extra
installed the server says so in one warning and runs untraced. The exporter
speaks OTLP over gRPC, or over HTTP with ``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``.

Spans: one per request (middleware.py); a request that starts an execution stores
its traceparent with it, and the server that finishes the execution records the
execution's span under that request and one span per task under it (spans.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_ENV = "OTEL_SERVICE_NAME"
PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
DEFAULT_SERVICE = "cloacina"
PROTOCOLS = ("grpc", "http/protobuf")


def setup_tracing(environ: Mapping[str, str]) -> Any | None:
    """A tracer provider exporting to the OTLP collector the environment names, or None
    (not asked for, an unknown protocol, or not installed)."""
    endpoint = environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        return None
    protocol = environ.get(PROTOCOL_ENV, "").strip() or "grpc"
    if protocol not in PROTOCOLS:
        logger.warning(
            "{}={!r} is not one of {}; tracing is off", PROTOCOL_ENV, protocol, ", ".join(PROTOCOLS)
        )
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        exporter = _exporter(protocol, endpoint)
    except ImportError:
        logger.warning(
            "{} is set but OpenTelemetry is not installed; tracing is off"
            " (install the otel extra: pip install 'cloacinactl[otel]')",
            ENDPOINT_ENV,
        )
        return None
    service = environ.get(SERVICE_ENV, "").strip() or DEFAULT_SERVICE
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    logger.info("tracing to {} protocol={} service_name={}", endpoint, protocol, service)
    return provider


def _exporter(protocol: str, endpoint: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpSpanExporter,
    )

    # the variable names the collector's base address; traces go to its /v1/traces
    return HttpSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


def current_traceparent() -> str | None:
    """The W3C traceparent of the span current in this task (the request's), if any."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")

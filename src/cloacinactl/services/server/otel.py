"""OpenTelemetry traces, only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Nothing of OpenTelemetry is imported otherwise. Without the ``otel`` extra
installed the server says so in one warning and runs untraced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loguru import logger

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE_ENV = "OTEL_SERVICE_NAME"
DEFAULT_SERVICE = "cloacina"


def setup_tracing(environ: Mapping[str, str]) -> Any | None:
    """A tracer provider exporting to the OTLP (gRPC) collector the environment names,
    or None (not asked for, or not installed)."""
    endpoint = environ.get(ENDPOINT_ENV, "").strip()
    if not endpoint:
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "{} is set but OpenTelemetry is not installed; tracing is off"
            " (install the otel extra: pip install 'cloacinactl[otel]')",
            ENDPOINT_ENV,
        )
        return None
    service = environ.get(SERVICE_ENV, "").strip() or DEFAULT_SERVICE
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    logger.info("tracing to {} service_name={}", endpoint, service)
    return provider

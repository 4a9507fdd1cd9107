"""OpenTelemetry traces over OTLP/HTTP: a server span per request named after its route
template, a child span per SQL statement, the caller's W3C `traceparent` honoured, and the
trace id on every log line written inside a span.

FastAPI traces requests itself once a tracer provider is configured; this module configures
one and adds SQLAlchemy's spans. It is imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set
(telemetry.py). The SDK reads the other standard variables itself: OTEL_SERVICE_NAME,
OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_SCHEDULE_DELAY, ...
"""

import logging
import os
from functools import cache
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from . import VERSION


def start_tracing(endpoint: str) -> None:
    """Trace every request from now on; stamp log lines with the current trace id."""
    tracer_provider(endpoint)
    _stamp_log_records_with_trace_id()


def trace_engine(engine: AsyncEngine, endpoint: str) -> None:
    """A child span for every SQL statement the engine runs."""
    # What SQLAlchemyInstrumentor attaches to one engine, without the instrumentor: that also
    # patches create_engine everywhere, and its version range stops short of SQLAlchemy 2.1.
    EngineTracer(  # type: ignore[no-untyped-call]
        tracer_provider(endpoint).get_tracer("opentelemetry.instrumentation.sqlalchemy"),
        engine.sync_engine,
        metrics.get_meter(__name__).create_up_down_counter("db.client.connections.usage"),
    )


@cache
def tracer_provider(endpoint: str) -> TracerProvider:
    """The process's provider (FastAPI uses the global one), exporting in batches."""
    about: dict[str, str] = {SERVICE_VERSION: VERSION}
    if "OTEL_SERVICE_NAME" not in os.environ:
        about[SERVICE_NAME] = (__package__ or "service").replace("_", "-")
    provider = TracerProvider(resource=Resource.create(about))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def _stamp_log_records_with_trace_id() -> None:
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "stamps_trace_id", False):
        return

    def record_with_trace_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
        return record

    record_with_trace_id.stamps_trace_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(record_with_trace_id)

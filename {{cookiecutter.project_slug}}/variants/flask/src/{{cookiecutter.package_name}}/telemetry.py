"""Telemetry, each part on only when the settings ask for it: Prometheus metrics (on by
default, METRICS_ENABLED), traces (OTEL_EXPORTER_OTLP_ENDPOINT) and error reports
(SENTRY_DSN).

A part that is off is never imported and costs nothing per request, so the libraries are
imported here, inside the functions that turn their part on. prometheus-client must not
even be imported before `serve` has set PROMETHEUS_MULTIPROC_DIR: it picks where its values
live when it is first imported.
"""

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from flask import Flask, request

from .db import db
from .settings import Settings

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
ROUTE_KEY = "telemetry.route"  # where note_route leaves the route template in the environ
# Requests no route answered (404, 405 on unknown paths, 413 before routing): one series.
UNMATCHED_ROUTE = "unmatched"
_VALUE_FILE = re.compile(r"(counter|gauge_\w+|histogram|summary)_\d+\.db")
_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def instrument_app(app: Flask, settings: Settings) -> None:
    """Turn on what the settings ask for; call once app.wsgi_app has all its middleware."""
    if settings.sentry_dsn is not None:
        from .sentry import init_sentry  # noqa: PLC0415

        init_sentry(settings)
    if settings.metrics_enabled or settings.otel_exporter_otlp_endpoint:
        app.before_request(note_route)
    with app.app_context():
        engine = db.engine
    if settings.metrics_enabled:
        from .metrics import MetricsMiddleware, watch_pool  # noqa: PLC0415

        app.wsgi_app = MetricsMiddleware(app.wsgi_app)  # type: ignore[method-assign]
        watch_pool(engine)
    if settings.otel_exporter_otlp_endpoint:
        from .tracing import trace_app, trace_engine  # noqa: PLC0415

        trace_app(app, settings.otel_exporter_otlp_endpoint)
        trace_engine(engine, settings.otel_exporter_otlp_endpoint)


def note_route() -> None:
    """Leave the matched route's template in the environ for the metrics and the span name."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = route_template(request.url_rule.rule)


@cache
def route_template(rule: str) -> str:
    """/api/v1/tasks/<int:task_id> as /api/v1/tasks/{task_id}: the label FastAPI gives it."""
    return _CONVERTER.sub(r"{\1}", rule)


def login_throttled_counter(settings: Settings) -> Callable[[], object] | None:
    """What the login throttle calls on every attempt it refuses, if anything."""
    if not settings.metrics_enabled:
        return None
    from .metrics import LOGIN_THROTTLED  # noqa: PLC0415

    return LOGIN_THROTTLED.inc


@contextmanager
def serve_metrics(settings: Settings) -> Iterator[None]:
    """Serve the sum of every worker's metrics on METRICS_PORT while the block runs.

    The workers write their values to files in PROMETHEUS_MULTIPROC_DIR: the directory
    given (on Kubernetes a memory-backed emptyDir), emptied first so a restart starts
    from zero, or else a new one in /dev/shm, removed at exit.
    """
    if not settings.metrics_enabled:
        yield
        return
    given = os.environ.get(MULTIPROCESS_DIR)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="metrics-", dir=_memory()))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if _VALUE_FILE.fullmatch(stale.name):
            stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(directory)  # the workers inherit it

    from prometheus_client import CollectorRegistry, start_http_server  # noqa: PLC0415
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    server, thread = start_http_server(settings.metrics_port, settings.host, registry=registry)
    logger.info("Metrics on http://%s:%s/metrics", settings.host, settings.metrics_port)
    owner = os.getpid()
    try:
        yield
    finally:
        # A forked worker leaves through this block too: only the process that started
        # the listener stops it (and removes the directory the workers write to).
        if os.getpid() == owner:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            if not given:
                shutil.rmtree(directory, ignore_errors=True)


def _memory() -> str | None:
    # Workers write on every request: keep the files in memory where the system offers it.
    shm = Path("/dev/shm")  # noqa: S108 - shared memory, the place meant for this
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None

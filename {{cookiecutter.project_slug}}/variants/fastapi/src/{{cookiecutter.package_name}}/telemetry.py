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
from pathlib import Path
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:  # the command line imports this module, and must not import FastAPI
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_VALUE_FILE = re.compile(r"(counter|gauge_\w+|histogram|summary)_\d+\.db")


def instrument_app(app: "FastAPI", settings: Settings) -> None:
    """Turn on what the settings ask for; call once the app has all its middleware."""
    if settings.sentry_dsn is not None:
        from .sentry import init_sentry  # noqa: PLC0415

        init_sentry(settings)
    if settings.metrics_enabled:
        from .metrics import MetricsMiddleware  # noqa: PLC0415

        app.add_middleware(MetricsMiddleware)
    if settings.otel_exporter_otlp_endpoint:
        from .tracing import start_tracing  # noqa: PLC0415

        start_tracing(settings.otel_exporter_otlp_endpoint)


def instrument_engine(engine: "AsyncEngine", settings: Settings) -> None:
    """Pool gauges and SQL spans for the engine, when metrics and traces are on."""
    if settings.metrics_enabled:
        from .metrics import watch_pool  # noqa: PLC0415

        watch_pool(engine)
    if settings.otel_exporter_otlp_endpoint:
        from .tracing import trace_engine  # noqa: PLC0415

        trace_engine(engine, settings.otel_exporter_otlp_endpoint)


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

"""Prometheus metrics: requests by route template, requests in flight, the database pool,
login throttling and the build. The FastAPI variant has the same names and labels.

Under `serve` every worker writes its values to PROMETHEUS_MULTIPROC_DIR and the metrics
listener adds them up (telemetry.serve_metrics); elsewhere they live in this process.
"""

from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

from . import VERSION
from .telemetry import ROUTE_KEY, UNMATCHED_ROUTE

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

FRAMEWORK = "flask"

# Methods are the client's to choose: any other one is counted as _OTHER, as OpenTelemetry does.
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Seconds from a request's arrival to its response.",
    ["method", "route", "status"],
)
IN_PROGRESS = Gauge(
    "http_requests_in_progress", "HTTP requests being served.", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pools.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "db_pool_size", "Connections the pools keep, over all workers.", multiprocess_mode="livesum"
)
LOGIN_THROTTLED = Counter(
    "login_throttled_total", "Login attempts refused with 429: one client tried too often."
)
BUILD_INFO = Gauge(
    "app_build_info",
    "Always 1; the labels say which version of the service runs on which framework.",
    ["version", "framework"],
    multiprocess_mode="max",
)


class MetricsMiddleware:
    """Count and time every HTTP request by method, route template and status."""

    def __init__(self, app: "WSGIApplication") -> None:
        self.app = app
        self.series: dict[tuple[str, str, str], tuple[Histogram, Counter]] = {}
        BUILD_INFO.labels(VERSION, FRAMEWORK).set(1)

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        status = "500"
        started = perf_counter()

        def start_noting_status(
            status_line: str, headers: list[tuple[str, str]], exc_info: "OptExcInfo | None" = None
        ) -> Callable[[bytes], object]:
            nonlocal status
            status = status_line.split(" ", 1)[0]
            return start_response(status_line, headers, exc_info)

        IN_PROGRESS.inc()
        try:
            return self.app(environ, start_noting_status)
        finally:
            IN_PROGRESS.dec()
            # The app notes the route it matched (telemetry.note_route) before handling it.
            method = environ["REQUEST_METHOD"]
            method = method if method in KNOWN_METHODS else "_OTHER"
            duration, count = self.children(
                (method, environ.get(ROUTE_KEY, UNMATCHED_ROUTE), status)
            )
            duration.observe(perf_counter() - started)
            count.inc()

    def children(self, labels: tuple[str, str, str]) -> tuple[Histogram, Counter]:
        """The histogram's and the counter's series for these labels, looked up once."""
        # Threads share the dict: a race only looks the same series up twice.
        if (found := self.series.get(labels)) is None:
            found = self.series[labels] = (
                REQUEST_DURATION.labels(*labels),
                REQUESTS.labels(*labels),
            )
        return found


def watch_pool(engine: Engine) -> None:
    """Keep the pool gauges current as connections are checked out and back in."""
    pool = engine.pool
    size = getattr(pool, "size", None)  # QueuePool has one; SQLite's in-memory pools don't
    POOL_SIZE.set(size() if callable(size) else 0)

    @event.listens_for(pool, "checkout")
    def on_checkout(*_args: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def on_checkin(*_args: Any) -> None:
        POOL_IN_USE.dec()

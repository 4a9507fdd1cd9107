"""Prometheus metrics: requests by route template, requests in flight, the database pool,
login throttling and the build. The Flask variant has the same names and labels.

Under `serve` every worker writes its values to PROMETHEUS_MULTIPROC_DIR and the metrics
listener adds them up (telemetry.serve_metrics); elsewhere they live in this process.
"""

from time import perf_counter
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import VERSION

FRAMEWORK = "fastapi"
# Requests no route answered (404, 405 on unknown paths, 413 before routing): one series.
UNMATCHED_ROUTE = "unmatched"

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

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.templates: dict[int, str] = {}  # id of a matched route: its whole path template
        self.series: dict[tuple[str, str, str], tuple[Histogram, Counter]] = {}
        BUILD_INFO.labels(VERSION, FRAMEWORK).set(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            IN_PROGRESS.dec()
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
            duration, count = self.children((method, self.template(scope), str(status)))
            duration.observe(perf_counter() - started)
            count.inc()

    def children(self, labels: tuple[str, str, str]) -> tuple[Histogram, Counter]:
        """The histogram's and the counter's series for these labels, looked up once."""
        if (found := self.series.get(labels)) is None:
            found = self.series[labels] = (
                REQUEST_DURATION.labels(*labels),
                REQUESTS.labels(*labels),
            )
        return found

    def template(self, scope: Scope) -> str:
        """The path template of the route that answered, e.g. /api/v1/tasks/{task_id}."""
        route = scope.get("route")  # the router leaves the route it matched in the scope
        if route is None:
            return UNMATCHED_ROUTE
        if (template := self.templates.get(id(route))) is None:
            template = self.templates[id(route)] = _whole_template(route, scope["path"])
        return template


def _whole_template(route: Any, path: str) -> str:
    # An included router's route knows its path below the router's prefix only
    # (/tasks/{task_id}, its path_format: no `:int`); the prefix is the part of the path
    # before what the route matched.
    for start, char in enumerate(path):
        if char == "/" and route.path_regex.match(path[start:]):
            return path[:start] + str(route.path_format)
    return str(route.path_format)


def watch_pool(engine: AsyncEngine) -> None:
    """Keep the pool gauges current as connections are checked out and back in."""
    pool = engine.sync_engine.pool
    size = getattr(pool, "size", None)  # QueuePool has one; SQLite's in-memory pools don't
    POOL_SIZE.set(size() if callable(size) else 0)

    @event.listens_for(pool, "checkout")
    def on_checkout(*_args: Any) -> None:
        POOL_IN_USE.inc()

    @event.listens_for(pool, "checkin")
    def on_checkin(*_args: Any) -> None:
        POOL_IN_USE.dec()

"""Telemetry of the generated services, checked with the real receivers.

Each variant runs with its production command and two workers, metrics, traces and error
reports all turned on. A real Prometheus (Debian's `prometheus`, on a free port, with a
generated config and temporary storage) scrapes its metrics listener; an OTLP/HTTP receiver
and a Sentry endpoint run in this process. After a known load the counters Prometheus holds
must equal what was sent, by route template and status; the traces and the Sentry event
must say what happened and carry no secret.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from .conftest import IN_CI, Project, Service, free_port, serve

pytestmark = pytest.mark.slow

TASK_ROUTE = "/api/v1/tasks/{task_id}"
MISSING_TASK_IDS = range(1_000_000, 1_001_000)  # 1,000 ids no task has
PASSWORD = "telemetry password 0123"
SECRET_PASSWORD = "S3cret-passw0rd-that-must-never-leave"  # what must never leave
SECRET_TOKEN = "secret-bearer-token-that-must-never-leave"
STALE_HEALTH_COUNT = 1000  # a previous run's count, which `serve` must not carry over
LOGIN_LIMIT = 3  # per minute, client and username

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30) -> T:
    """Poll until probe() returns something other than None (or fail saying what)."""
    deadline = time.monotonic() + timeout
    while True:
        if (found := probe()) is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)


# --- receivers ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes  # decompressed


@dataclass
class Receiver:
    """One HTTP server for OTLP/HTTP traces and Sentry envelopes, recording every POST."""

    url: str
    posts: list[Received] = field(default_factory=list)

    def spans(self) -> list[Span]:
        spans = []
        for post in list(self.posts):
            if post.path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(post.body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        spans.extend(scope.spans)
        return spans

    def envelopes(self) -> list[Received]:
        return [post for post in list(self.posts) if post.path.endswith("/envelope/")]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    posts: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            posts.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", posts)
    server.shutdown()
    server.server_close()


# --- the service and its Prometheus --------------------------------------------------------


@dataclass
class Telemetry:
    project: Project
    service: Service
    database: Path
    metrics_dir: Path
    prometheus: str  # its base URL


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        reason = "Prometheus is not installed (apt-get install -y prometheus; .ci/run does it)"
        if IN_CI:
            pytest.fail(f"CI=true requires it: {reason}")
        pytest.skip(reason)
    return found


def write_stale_counter(project: Project, directory: Path) -> None:
    """What a previous run of the service could have left behind: 1,000 requests to /health."""
    script = (
        "from prometheus_client import Counter; "
        "Counter('http_requests_total', 'x', ['method', 'route', 'status'])"
        f".labels('GET', '/health', '200').inc({STALE_HEALTH_COUNT})"
    )
    python = str(project.path / ".venv" / "bin" / "python")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = project.run(python, "-c", script, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert list(directory.glob("counter_*.db")), "the stale counter file was not written"


@contextlib.contextmanager
def run_prometheus(target: str, workdir: Path) -> Iterator[str]:
    """A real Prometheus scraping `target` every second; its base URL."""
    binary = prometheus_binary()
    port = free_port()
    config = workdir / "prometheus.yml"
    # JSON is YAML: the config Prometheus reads, written without a YAML library.
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {"job_name": "service", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    log = workdir / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool | None:
            if process.poll() is not None:
                pytest.fail(f"Prometheus exited with {process.returncode}: {log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200 or None
            return None

        wait_for("Prometheus to be ready", ready)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def by_labels(results: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(result["metric"].get(label, "") for label in labels): float(result["value"][1])
        for result in results
    }


REQUEST_KEY = ("method", "route", "status")
REQUESTS_BY_KEY = "sum by (method, route, status) (http_requests_total)"


@pytest.fixture(scope="module")
def telemetry(
    baked: Project, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Telemetry]:
    """The service with two workers and everything on, and a Prometheus scraping it."""
    prometheus_binary()
    workdir = tmp_path_factory.mktemp(f"telemetry-{baked.framework}")
    database = workdir / "app.db"
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    write_stale_counter(baked, metrics_dir)
    metrics_port = free_port()
    with (
        serve(
            baked,
            f"sqlite:///{database}",
            WEB_CONCURRENCY="2",
            METRICS_PORT=str(metrics_port),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="200",
            OTEL_BSP_MAX_QUEUE_SIZE="100000",
            SENTRY_DSN=f"http://public@{receiver.url.removeprefix('http://')}/1",
            LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT}/minute",
        ) as service,
        run_prometheus(f"127.0.0.1:{metrics_port}", workdir) as prometheus,
    ):
        yield Telemetry(baked, service, database, metrics_dir, prometheus)


# --- a known load --------------------------------------------------------------------------


@dataclass
class Load:
    baseline: dict[tuple[str, ...], float]  # what Prometheus had before the load
    sent: Counter[tuple[str, str, str]]  # (method, route template, status): requests
    token: str
    task_ids: list[int]


@pytest.fixture(scope="module")
def load(telemetry: Telemetry) -> Load:
    """Requests with known answers, over fresh connections (so both workers take some)."""
    prometheus, url = telemetry.prometheus, telemetry.service.url
    baseline = wait_for(
        "Prometheus's first scrape of the service",
        lambda: by_labels(query(prometheus, REQUESTS_BY_KEY), *REQUEST_KEY) or None,
    )
    sent: Counter[tuple[str, str, str]] = Counter()

    def request(method: str, path: str, route: str, expect: int, **options: Any) -> httpx.Response:
        client: httpx.Client | None = options.pop("client", None)
        if client is None:
            response = httpx.request(method, url + path, timeout=30, **options)
        else:
            response = client.request(method, url + path, timeout=30, **options)
        assert response.status_code == expect, f"{method} {path}: {response.text}"
        sent[(method, route, str(expect))] += 1
        return response

    email = f"load-{uuid.uuid4().hex[:8]}@example.com"
    account = {"email": email, "password": PASSWORD}
    request("POST", "/api/v1/auth/register", "/api/v1/auth/register", 201, json=account)
    login = {"username": email, "password": PASSWORD}
    answer = request("POST", "/api/v1/auth/token", "/api/v1/auth/token", 200, data=login)
    token = answer.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    task_ids = [
        request(
            "POST", "/api/v1/tasks", "/api/v1/tasks", 201, headers=auth, json={"title": "T"}
        ).json()["id"]
        for _ in range(5)
    ]
    jobs = [(f"/api/v1/tasks/{task_id}", TASK_ROUTE, 200) for task_id in task_ids * 4]
    jobs += [(f"/api/v1/tasks/{task_id}", TASK_ROUTE, 404) for task_id in MISSING_TASK_IDS]
    jobs += [("/api/v1/tasks?limit=5", "/api/v1/tasks", 200)] * 10
    jobs += [(f"/no/such/path/{n}", "unmatched", 404) for n in range(5)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda job: request("GET", *job, headers=auth), jobs))
    # One keep-alive connection is one worker, whose throttle counts every attempt.
    wrong = {"username": f"throttled-{uuid.uuid4().hex[:8]}@example.com", "password": "wrong 1"}
    with httpx.Client() as client:
        for attempt in range(LOGIN_LIMIT + 2):
            expect = 401 if attempt < LOGIN_LIMIT else 429
            request("POST", "/api/v1/auth/token", "/api/v1/auth/token", expect, client=client,
                    data=wrong)  # fmt: skip
    return Load(baseline, sent, token, task_ids)


def test_prometheus_counts_every_request_of_both_workers_by_route_and_status(
    telemetry: Telemetry, load: Load
) -> None:
    # Only the start-up probe's /health requests came before the load: not the 1,000 a
    # previous run left in PROMETHEUS_MULTIPROC_DIR, which `serve` empties at start.
    assert set(load.baseline) == {("GET", "/health", "200")}, load.baseline
    assert load.baseline[("GET", "/health", "200")] < STALE_HEALTH_COUNT

    expected = {key: load.baseline.get(key, 0) + count for key, count in load.sent.items()}
    expected |= {key: value for key, value in load.baseline.items() if key not in expected}

    def scraped_all() -> dict[tuple[str, ...], float] | None:
        seen = by_labels(query(telemetry.prometheus, REQUESTS_BY_KEY), *REQUEST_KEY)
        return seen if seen == expected else None

    try:
        wait_for("Prometheus to hold every request sent", scraped_all)
    except pytest.fail.Exception:
        seen = by_labels(query(telemetry.prometheus, REQUESTS_BY_KEY), *REQUEST_KEY)
        assert seen == expected  # shows the difference
    durations = query(
        telemetry.prometheus, "sum by (method, route, status) (http_request_duration_seconds_count)"
    )
    assert by_labels(durations, *REQUEST_KEY) == expected

    # Both workers served part of it, and the listener added their shares up.
    per_worker = worker_request_counts(telemetry)
    assert len([count for count in per_worker.values() if count > 0]) >= 2, per_worker
    assert sum(per_worker.values()) == sum(expected.values())


def worker_request_counts(telemetry: Telemetry) -> dict[str, float]:
    """http_requests_total from each worker's own file in PROMETHEUS_MULTIPROC_DIR."""
    script = """
import json, pathlib, sys
from prometheus_client.multiprocess import MultiProcessCollector
counts = {}
for path in pathlib.Path(sys.argv[1]).glob("counter_*.db"):
    metrics = MultiProcessCollector.merge([str(path)], accumulate=False)
    counts[path.stem] = sum(
        sample.value for metric in metrics for sample in metric.samples
        if sample.name == "http_requests_total"
    )
print(json.dumps(counts))
"""
    python = str(telemetry.project.path / ".venv" / "bin" / "python")
    result = telemetry.project.run(python, "-c", script, str(telemetry.metrics_dir), timeout=60)
    assert result.returncode == 0, result.stderr
    counts: dict[str, float] = json.loads(result.stdout)
    return counts


def test_a_thousand_task_ids_make_one_series_per_status(telemetry: Telemetry, load: Load) -> None:
    series = query(telemetry.prometheus, 'http_requests_total{route=~"/api/v1/tasks.*"}')
    routes = {result["metric"]["route"] for result in series}
    assert routes == {"/api/v1/tasks", TASK_ROUTE}
    task_series = by_labels(
        [result for result in series if result["metric"]["route"] == TASK_ROUTE], "method", "status"
    )
    assert task_series == {
        ("GET", "200"): len(load.task_ids) * 4,
        ("GET", "404"): len(MISSING_TASK_IDS),
    }
    every_route = {r["metric"]["route"] for r in query(telemetry.prometheus, "http_requests_total")}
    assert len(every_route) <= 8, f"route labels must be templates: {sorted(every_route)}"


def test_gauges_throttle_counter_and_build_info(telemetry: Telemetry, load: Load) -> None:
    def value(promql: str) -> float:
        results = query(telemetry.prometheus, promql)
        assert len(results) == 1, f"{promql}: {results}"
        return float(results[0]["value"][1])

    throttled = load.sent[("POST", "/api/v1/auth/token", "429")]
    assert throttled == 2
    wait_for("the throttle counter", lambda: value("login_throttled_total") == throttled or None)
    build = query(telemetry.prometheus, "app_build_info")
    assert [(r["metric"]["framework"], r["metric"]["version"], r["value"][1]) for r in build] == [
        (telemetry.project.framework, "0.1.0", "1")
    ]
    assert value("db_pool_size") > 0
    assert value("http_requests_in_progress") == 0
    wait_for("every connection back in the pools",
             lambda: value("db_pool_connections_in_use") == 0 or None)  # fmt: skip


# --- traces --------------------------------------------------------------------------------


def log_line(service: Service, request_id: str) -> dict[str, Any]:
    """The service's access log line for the request with this id."""

    def find() -> dict[str, Any] | None:
        for line in service.output().splitlines():
            if request_id in line and line.startswith("{"):
                entry: dict[str, Any] = json.loads(line)
                if entry.get("request_id") == request_id and entry["message"].startswith('"'):
                    return entry
        return None

    return wait_for(f"the log line of request {request_id}", find, timeout=10)


def exported_trace(receiver: Receiver, trace_id: str) -> list[Span] | None:
    """The trace's spans once its server span and a SQL span have arrived, else None."""
    spans = [span for span in receiver.spans() if span.trace_id.hex() == trace_id]
    kinds = {span.kind for span in spans}
    return spans if {Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT} <= kinds else None


def attributes(span: Span) -> dict[str, Any]:
    values = {}
    for attribute in span.attributes:
        kind = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, kind) if kind else None
    return values


def check_trace(spans: list[Span], route: str, status: int) -> Span:
    """One server span named after the route, with SQL spans below it; the server span."""
    servers = [span for span in spans if span.kind == Span.SPAN_KIND_SERVER]
    assert len(servers) == 1, [(s.name, s.kind) for s in spans]
    server = servers[0]
    assert server.name == f"GET {route}"
    assert attributes(server)["http.route"] == route
    assert attributes(server)["http.response.status_code"] == status
    by_id = {span.span_id: span for span in spans}
    sql = [span for span in spans if span.kind == Span.SPAN_KIND_CLIENT]
    assert sql, f"no SQL spans in {[s.name for s in spans]}"
    for span in sql:
        assert "SELECT" in span.name or "sqlite" in str(attributes(span).values()), span.name
        ancestor = span
        while ancestor.parent_span_id in by_id and ancestor.span_id != server.span_id:
            ancestor = by_id[ancestor.parent_span_id]
        assert ancestor.span_id == server.span_id, f"{span.name} is not below the server span"
    return server


def test_a_callers_traceparent_is_the_parent_of_the_server_span(
    telemetry: Telemetry, load: Load, receiver: Receiver
) -> None:
    sent = []
    for task_id in load.task_ids[:3]:
        trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        request_id = f"traced-{uuid.uuid4().hex}"
        response = httpx.get(
            f"{telemetry.service.url}/api/v1/tasks/{task_id}",
            headers={
                "Authorization": f"Bearer {load.token}",
                "traceparent": f"00-{trace_id}-{parent_id}-01",
                "X-Request-ID": request_id,
            },
            timeout=30,
        )
        assert response.status_code == 200
        sent.append((trace_id, parent_id, request_id))
    for trace_id, parent_id, request_id in sent:
        spans = wait_for(
            f"the spans of trace {trace_id}",
            lambda trace_id=trace_id: exported_trace(receiver, trace_id),  # type: ignore[misc]
        )
        server = check_trace(spans, TASK_ROUTE, 200)
        assert server.parent_span_id.hex() == parent_id
        assert log_line(telemetry.service, request_id)["trace_id"] == trace_id


def test_a_request_without_traceparent_starts_a_trace_its_log_line_names(
    telemetry: Telemetry, load: Load, receiver: Receiver
) -> None:
    request_id = f"untraced-{uuid.uuid4().hex}"
    response = httpx.get(
        f"{telemetry.service.url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {load.token}", "X-Request-ID": request_id},
        timeout=30,
    )
    assert response.status_code == 200
    trace_id = log_line(telemetry.service, request_id)["trace_id"]
    spans = wait_for(f"the spans of trace {trace_id}", lambda: exported_trace(receiver, trace_id))
    server = check_trace(spans, "/api/v1/tasks", 200)
    assert server.parent_span_id == b""


# --- error reports -------------------------------------------------------------------------


def envelope_items(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(item header, item) pairs of a Sentry envelope: a header line, then pairs of lines."""
    lines = body.split(b"\n")
    items = []
    for header, payload in zip(lines[1::2], lines[2::2], strict=False):
        if header.strip():
            items.append((json.loads(header), json.loads(payload)))
    return items


def test_an_error_inside_login_reaches_sentry_with_its_request_id_and_no_secret(
    telemetry: Telemetry, receiver: Receiver
) -> None:
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    registered = httpx.post(
        f"{telemetry.service.url}/api/v1/auth/register",
        json={"email": email, "password": SECRET_PASSWORD},
        timeout=30,
    )
    assert registered.status_code == 201
    # A stored hash no hasher knows: verifying the password raises inside the login handler.
    with contextlib.closing(sqlite3.connect(telemetry.database, timeout=30)) as connection:
        connection.execute(
            "UPDATE users SET hashed_password = 'no-hasher-knows-this' WHERE email = ?", (email,)
        )
        connection.commit()
    request_id = f"sentry-{uuid.uuid4().hex}"
    response = httpx.post(
        f"{telemetry.service.url}/api/v1/auth/token",
        data={"username": email, "password": SECRET_PASSWORD},
        headers={
            "Authorization": f"Bearer {SECRET_TOKEN}",
            "Cookie": f"session={SECRET_TOKEN}",
            "X-Request-ID": request_id,
        },
        timeout=30,
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"

    def events() -> list[tuple[Received, dict[str, Any]]] | None:
        found = [
            (post, item)
            for post in receiver.envelopes()
            for header, item in envelope_items(post.body)
            if header.get("type") == "event"
            and (item.get("tags") or {}).get("request_id") == request_id
        ]
        return found or None

    found = wait_for(f"a Sentry event for request {request_id}", events)
    post, event = found[0]
    assert event["transaction"] == "/api/v1/auth/token"
    raised = [value["type"] for value in event["exception"]["values"]]
    assert "UnknownHashError" in raised, raised
    headers = {name.lower(): value for name, value in event["request"].get("headers", {}).items()}
    assert headers.get("x-request-id") == request_id
    assert not event["request"].get("data"), "request bodies are never sent"
    for post in receiver.envelopes():
        sent = post.body.decode() + json.dumps(post.headers)
        for secret in (SECRET_PASSWORD, SECRET_TOKEN, f"Bearer {SECRET_TOKEN}"):
            assert secret not in sent, f"{secret!r} was sent to Sentry"
    assert headers.get("authorization") in {None, "[Filtered]"}
    assert headers.get("cookie") in {None, "[Filtered]"}

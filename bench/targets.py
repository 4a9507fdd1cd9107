"""What the benchmark measures: its workloads, the servers it compares, their labels and ratios."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

from tests.harness import TEMPLATE, Server

BENCH = TEMPLATE / "bench"
BASELINES = BENCH / "baselines"
WRK_SCRIPT = BENCH / "wrk" / "request.lua"
RESULTS = BENCH / "results"
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
EXIT_NO_WRK = 3  # tests skip on this one: wrk is missing and could not be installed
PASSWORD = "benchmark password 0123"
SEED_TASKS = 100
TARGET_RATIO = 0.90
TASK_BODY = json.dumps(
    {"title": "Benchmark task", "description": "Written by wrk.", "priority": "high"}
)


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    method: str
    path: str  # {task_id} is filled in from the seed
    token: str | None  # which seeded user's token: "reader", "writer" or none
    body: str | None = None
    expect: int = 200


WORKLOADS = [
    Workload("health", "GET /health", "GET", "/health", None),
    Workload("get-task", "GET /api/v1/tasks/{id}", "GET", "/api/v1/tasks/{task_id}", "reader"),
    # A second user writes, so the reader's list and lookups stay the same size all run long.
    Workload(
        "create-task", "POST /api/v1/tasks", "POST", "/api/v1/tasks", "writer", TASK_BODY, 201
    ),
    Workload("list-tasks", "GET /api/v1/tasks?limit=20", "GET", "/api/v1/tasks?limit=20", "reader"),
]


@dataclass
class Seed:
    tokens: dict[str, str]
    task_id: int


@dataclass
class Database:
    name: str
    url: str
    seed: Seed | None = None


@dataclass
class Target:
    """One row of the report: a server to load, or the reason it was skipped."""

    key: str
    label: str
    framework: str  # whose database it uses and whose row it belongs to
    server: Server | None = None
    database: Database | None = None
    skipped: str | None = None
    note: str | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def env(self) -> dict[str, str]:
        return self.server.env if self.server else {}

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.server.process if self.server else None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


TARGET_ORDER = ["fastapi", "starlette", "flask", "flask-bare"]
# The same bare apps with every query through the SQLAlchemy ORM the generated services use:
# they split each generated ÷ bare gap into the ORM's share and the rest.
ORM_ORDER = ["starlette-orm", "flask-orm"]
# The generated services again with telemetry changed from its defaults (metrics on, traces
# and error reports off), on their twin's database: what metrics and traces cost.
TELEMETRY_TARGETS = {  # target: (framework, environment on top of the generated service's)
    "fastapi-metrics-off": ("fastapi", {"METRICS_ENABLED": "false"}),
    "fastapi-tracing": ("fastapi", {"OTEL_EXPORTER_OTLP_ENDPOINT": "{otlp_sink}"}),
    "flask-metrics-off": ("flask", {"METRICS_ENABLED": "false"}),
    "flask-tracing": ("flask", {"OTEL_EXPORTER_OTLP_ENDPOINT": "{otlp_sink}"}),
}
TELEMETRY_ORDER = list(TELEMETRY_TARGETS)
ALL_TARGETS = TARGET_ORDER + ORM_ORDER + TELEMETRY_ORDER
DEFAULT_TARGETS = TARGET_ORDER + ORM_ORDER  # six servers: what fits in max_connections
TELEMETRY_RUN = ["fastapi", *TELEMETRY_ORDER[:2], "flask", *TELEMETRY_ORDER[2:]]
TARGET_LABELS = {
    "fastapi": "FastAPI (generated)",
    "starlette": "Starlette (bare)",
    "flask": "Flask (generated)",
    "flask-bare": "Flask (bare)",
    "starlette-orm": "Starlette + ORM (bare)",
    "flask-orm": "Flask + ORM (bare)",
    "fastapi-metrics-off": "FastAPI, metrics off",
    "fastapi-tracing": "FastAPI, tracing on",
    "flask-metrics-off": "Flask, metrics off",
    "flask-tracing": "Flask, tracing on",
}
BARE_APPS = {  # target: (framework whose database it shares, module under bench/baselines)
    "starlette": ("fastapi", "starlette_app"),
    "starlette-orm": ("fastapi", "starlette_orm_app"),
    "flask-bare": ("flask", "flask_app"),
    "flask-orm": ("flask", "flask_orm_app"),
}
RATIOS = [  # (column title, numerator, denominator)
    ("FastAPI ÷ Starlette", "fastapi", "starlette"),
    ("Flask ÷ bare Flask", "flask", "flask-bare"),
    ("FastAPI ÷ Flask", "fastapi", "flask"),
]
ORM_RATIOS = [
    ("Starlette + ORM ÷ Starlette", "starlette-orm", "starlette"),
    ("FastAPI ÷ Starlette + ORM", "fastapi", "starlette-orm"),
    ("Flask + ORM ÷ Flask", "flask-orm", "flask-bare"),
    ("Flask ÷ Flask + ORM", "flask", "flask-orm"),
]


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)

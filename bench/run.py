"""Benchmark the generated services against bare baselines, with wrk, on this machine.

    uv run python bench/run.py                  # 3 runs of 10 s cells (median), ~15 minutes
    uv run python bench/run.py --smoke          # 1 s cells, 1 run: checks the harness works

Bakes every framework the template offers, starts each generated service with its own
production commands (`<slug> migrate`, `<slug> serve`) on 127.0.0.1 against a fresh
PostgreSQL database, starts a bare Starlette + asyncpg app (uvicorn) and a bare Flask +
psycopg app (gunicorn) on the same databases with the same worker count, seeds a user,
a token and ~100 tasks, and loads every workload on every server with wrk. Writes one
markdown report (req/s, p50/p99 latency, ratios, cold start, import time) to
bench/results/<date>.md and prints it. A variant that can't be baked, synced, migrated
or started is skipped with the reason, and the report says so.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

TEMPLATE = Path(__file__).resolve().parents[1]
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
# Variables that would leak this harness's environment into the servers and their uv.
LEAKY_ENV = {
    "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL",
    "TEST_DATABASE_URL", "SECRET_KEY", "ENVIRONMENT", "PORT", "HOST", "WEB_CONCURRENCY",
    "PYTHONDONTWRITEBYTECODE",
}  # fmt: skip


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
class Project:
    framework: str
    path: Path
    slug: str
    package: str


@dataclass
class Target:
    key: str
    label: str
    framework: str  # whose database it uses and whose row it belongs to
    command: list[str] = field(default_factory=list)
    cwd: Path = TEMPLATE
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    database: Database | None = None
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    skipped: str | None = None
    note: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


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


# --- tools --------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """The path of wrk, installed with apt-get when missing; None when that is impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        say("wrk is not installed and there is no apt-get here to install it")
        return None
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        say("wrk is not installed; install it as root with: apt-get install -y wrk")
        return None
    say("wrk is not installed: installing it with `apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in ([], ["update"]):
        if attempt:
            say("apt-get install failed; running `apt-get update` and trying again")
            subprocess.run([*prefix, apt, "update", "-qq"], env=env, check=False)
        subprocess.run(
            [*prefix, apt, "install", "-y", "-qq", "wrk"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if found := shutil.which("wrk"):
            return found
    say("could not install wrk with apt-get")
    return None


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}
    env.update(extra)
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- PostgreSQL ---------------------------------------------------------------------------


def create_database(label: str) -> Database:
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_URL)
    password = f":{info['password']}" if info.get("password") else ""
    url = (
        f"postgresql://{info.get('user', 'postgres')}{password}@{info.get('host', '127.0.0.1')}"
        f":{info.get('port', '5432')}/{name}"
    )
    return Database(name, url)


def drop_database(database: Database) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


def analyze(database: Database) -> None:
    """Fresh planner statistics, so the write workload's rows never change a read's plan."""
    with psycopg.connect(database.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("ANALYZE users")
        conn.execute("ANALYZE tasks")


# --- baking and serving -------------------------------------------------------------------


def bake(framework: str, workdir: Path) -> Project | str:
    """Bake and sync one variant; a Project, or the sentence saying why it can't run."""
    from cookiecutter.main import cookiecutter

    output = workdir / framework
    output.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(
            cookiecutter(
                str(TEMPLATE),
                no_input=True,
                extra_context={"framework": framework},
                output_dir=str(output),
                overwrite_if_exists=True,
            )
        )
    except Exception as exc:  # any bake failure means: skip this variant, say why
        return f"the template does not bake with framework={framework}: {exc}".strip()
    text = (path / "pyproject.toml").read_text(encoding="utf-8")
    slug = re.search(r'^name = "([^"]+)"', text, re.M)
    package = re.search(r'module-name = "([^"]+)"', text)
    if not (slug and package):
        return "its pyproject.toml names no project or module"
    project = Project(framework, path, slug[1], package[1])
    missing = [
        name
        for name in ("uv.lock", f"src/{project.package}/app.py", f"src/{project.package}/cli.py")
        if not (path / name).is_file()
    ]
    if missing:
        return f"the variant is not complete yet (no {', '.join(missing)})"
    # As the Dockerfile installs it: no dev tools, not editable, bytecode compiled.
    synced = run(
        ["uv", "sync", "--locked", "--no-dev", "--no-editable", "--compile-bytecode"], cwd=path
    )
    if synced.returncode != 0:
        return f"`uv sync --locked` failed: {tail(synced.stderr)}"
    if not (path / ".venv" / "bin" / project.slug).is_file():
        return f"the project installs no `{project.slug}` command"
    return project


def sync_baselines() -> None:
    synced = run(["uv", "sync", "--locked", "--compile-bytecode"], cwd=BASELINES)
    if synced.returncode != 0:
        raise SystemExit(f"bench: syncing bench/baselines failed: {tail(synced.stderr)}")


def service_env(
    database: Database, secret: str, port: int, workers: int, pool_size: int
) -> dict[str, str]:
    return clean_env(
        DATABASE_POOL_SIZE=str(pool_size),
        DATABASE_URL=database.url,
        ENVIRONMENT="production",
        SECRET_KEY=secret,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        LOG_LEVEL="WARNING",
        ACCESS_TOKEN_EXPIRE_MINUTES="720",  # the seeded tokens must outlive the whole run
    )


def gunicorn_settings(project: Project | None, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """worker_class, threads and keepalive of the generated Flask service, and their source."""
    defaults = {"worker_class": "gthread", "threads": env.get("THREADS", "4"), "keepalive": "2"}
    if project is None or not (project.path / "gunicorn.conf.py").is_file():
        return defaults, "the Flask variant's defaults (no gunicorn.conf.py to read)"
    gunicorn = project.path / ".venv" / "bin" / "gunicorn"
    printed = run(
        [str(gunicorn), "-c", "gunicorn.conf.py", "--print-config"],
        cwd=project.path,
        env=env,
        timeout=60,
    )
    found = dict(re.findall(r"^(\w+)\s+= (.*)$", printed.stdout, re.M))
    settings = {key: found.get(key, value) for key, value in defaults.items()}
    if tmp_dir := found.get("worker_tmp_dir"):
        settings["worker_tmp_dir"] = tmp_dir
    if printed.returncode != 0 or "worker_class" not in found:
        return defaults, f"defaults: gunicorn --print-config failed ({tail(printed.stderr, 2)})"
    if "." in settings["worker_class"] and not settings["worker_class"].startswith("gunicorn."):
        # The service's own worker (a gthread subclass in its package) can't be imported
        # by the bare apps: they run gunicorn's gthread.
        settings["worker_class"] = "gthread"
        return settings, "the generated project's gunicorn.conf.py; its own worker class as gthread"
    return settings, "the generated project's gunicorn.conf.py"


def start(target: Target, timeout: float = 60) -> float:
    """Start the target's server; the seconds until /health first answered 200."""
    return wait_until_up(target, spawn(target), timeout)


def spawn(target: Target) -> float:
    """Start the target's server process; when it started (perf_counter)."""
    assert target.log is not None
    with target.log.open("ab") as log:
        started = time.perf_counter()
        target.process = subprocess.Popen(
            target.command,
            cwd=target.cwd,
            env=target.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, workers included
        )
    return started


def wait_until_up(target: Target, started: float, timeout: float = 60) -> float:
    """Seconds from `started` until /health answered 200, or RuntimeError."""
    assert target.process is not None
    assert target.log is not None
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if target.process.poll() is not None:
            raise RuntimeError(
                f"exited with {target.process.returncode}: {tail(target.log.read_text())}"
            )
        if health_status(target.port) == 200:
            return time.perf_counter() - started
        time.sleep(0.005)
    stop(target)
    raise RuntimeError(f"no 200 on /health within {timeout:.0f} s: {tail(target.log.read_text())}")


def health_status(port: int) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def stop(target: Target) -> None:
    process, target.process = target.process, None
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # uvicorn's and gunicorn's workers leave with their master; make sure none lingers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def start_otlp_sink(cleanup: contextlib.ExitStack) -> str:
    """An OTLP/HTTP endpoint that takes every export and keeps nothing: for the tracing rows."""

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cleanup.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"


# --- seeding and checking -----------------------------------------------------------------


def seed(base_url: str) -> Seed:
    """Through the generated service's own API: two users, their tokens, the reader's tasks."""
    tokens = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for role in ("reader", "writer"):
            email = f"{role}@bench.example.com"
            registered = client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            )
            registered.raise_for_status()
            token = client.post(
                "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
            )
            token.raise_for_status()
            tokens[role] = token.json()["access_token"]
        reader = {"Authorization": f"Bearer {tokens['reader']}"}
        ids = []
        for number in range(1, SEED_TASKS + 1):
            created = client.post(
                "/api/v1/tasks",
                headers=reader,
                json={
                    "title": f"Seeded task {number}",
                    "description": f"Task number {number}, seeded before the run." * 3,
                    "priority": ["low", "normal", "high"][number % 3],
                    "done": number % 4 == 0,
                },
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
    return Seed(tokens=tokens, task_id=ids[len(ids) // 2])


def request_for(workload: Workload, seed: Seed) -> tuple[str, dict[str, str]]:
    headers = {"Content-Type": "application/json"} if workload.body else {}
    if workload.token:
        headers["Authorization"] = f"Bearer {seed.tokens[workload.token]}"
    return workload.path.format(task_id=seed.task_id), headers


def probe(target: Target, workload: Workload) -> str | None:
    """None when one request of the workload answers as it should; else what went wrong."""
    assert target.database
    assert target.database.seed
    path, headers = request_for(workload, target.database.seed)
    response = httpx.request(
        workload.method, target.url + path, headers=headers, content=workload.body, timeout=10
    )
    if response.status_code != workload.expect:
        return f"answered {response.status_code}, not {workload.expect}: {response.text[:120]}"
    return None


def compare_task_json(targets: list[Target]) -> list[str]:
    """Generated and bare must answer the same task with the same fields and values."""
    notes = []
    by_db: dict[str, list[Target]] = {}
    for target in targets:
        if target.skipped is None and target.database is not None:
            by_db.setdefault(target.database.name, []).append(target)
    for group in by_db.values():
        answers = {}
        for target in group:
            assert target.database
            assert target.database.seed
            path, headers = request_for(WORKLOADS[1], target.database.seed)
            body = httpx.get(target.url + path, headers=headers, timeout=10).json()
            answers[target.label] = {
                key: datetime.fromisoformat(value.replace("Z", "+00:00"))
                if key.endswith("_at")
                else value
                for key, value in body.items()
            }
        first_label, first = next(iter(answers.items()))
        for label, answer in answers.items():
            if answer != first:
                notes.append(
                    f"{label} answers GET /api/v1/tasks/{{id}} differently from {first_label}: "
                    f"{sorted(answer.items())} vs {sorted(first.items())}"
                )
    return notes


# --- load ---------------------------------------------------------------------------------


@dataclass
class Cell:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # the server's CPU time (all its processes) per request


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes in a process group (a server and workers)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    target: Target, workload: Workload, seconds: int, args: argparse.Namespace, log: Path
) -> Cell:
    assert target.database
    assert target.database.seed
    path, _ = request_for(workload, target.database.seed)
    env = {**os.environ, "BENCH_METHOD": workload.method, "BENCH_BODY": workload.body or ""}
    env["BENCH_TOKEN"] = target.database.seed.tokens[workload.token] if workload.token else ""
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency",
        "--timeout", "5s", "-s", str(WRK_SCRIPT), target.url + path,
    ]  # fmt: skip
    assert target.process is not None
    cpu_before = group_cpu_seconds(target.process.pid)
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    cpu = group_cpu_seconds(target.process.pid) - cpu_before
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}  # {target.label}\n{result.stdout}{result.stderr}\n")
    line = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.M)
    if result.returncode != 0 or line is None:
        why = tail(result.stderr or result.stdout)
        raise RuntimeError(f"wrk failed ({result.returncode}): {why}")
    data = json.loads(line[1])
    errors = sum(value for key, value in data.items() if key.startswith("errors_"))
    return Cell(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        cpu_ms=1000 * cpu / max(data["requests"], 1),
    )


# --- profiles -----------------------------------------------------------------------------

PROCESS_FRAME = re.compile(r'^(?:process \d+:"(?:[^"\\]|\\.)*";?)+')
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")


BARE_MODULES = {"common", "orm", *(module for _, module in BARE_APPS.values())}


def package_of(path: str) -> str:
    """The top-level package of a py-spy frame's file (py-spy shortens paths to sys.path)."""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif match := re.search(r"/lib/python3\.\d+/(.+)$", path):
        path = match[1]
    top = path.strip("/").split("/", 1)[0].removesuffix(".py")
    if top in BARE_MODULES or path.startswith(str(BASELINES)):
        return "bare app"
    return f"{top} (stdlib)" if top in sys.stdlib_module_names else top


def short_frame(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    return f"{match['function']} ({package_of(match['path'])})"


def profile(target: Target, workload: Workload, seconds: int, args: argparse.Namespace,
            raw: Path, service_package: str | None) -> list[str]:  # fmt: skip
    """py-spy (GIL holders only: where the Python CPU goes) while wrk loads the target."""
    assert target.database
    assert target.database.seed
    assert target.process
    path, _ = request_for(workload, target.database.seed)
    env = {**os.environ, "BENCH_METHOD": workload.method, "BENCH_BODY": workload.body or ""}
    env["BENCH_TOKEN"] = target.database.seed.tokens[workload.token] if workload.token else ""
    loader = subprocess.Popen(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds + 3}s", "-s",
         str(WRK_SCRIPT), target.url + path],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(1)
        recorded = run(
            [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
             str(target.process.pid), "--subprocesses", "--gil", "--nonblocking", "--rate",
             "100", "--duration", str(seconds), "--format", "raw", "--output", str(raw)],
            cwd=TEMPLATE, env=dict(os.environ), timeout=seconds + 60,
        )  # fmt: skip
    finally:
        loader.wait(timeout=seconds + 30)
    if recorded.returncode != 0 or not raw.is_file():
        return [f"py-spy failed: {tail(recorded.stderr)}"]
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    packages: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        # With --subprocesses the root frame is `process N:"<command line>"`, which may hold ";".
        stack = PROCESS_FRAME.sub("", stack)
        frames = [frame for frame in stack.split(";") if frame]
        if not frames:
            continue
        total += count
        # Frames in the service's (or bare app's) code and what they call directly.
        mine = set()
        for caller, callee in zip([None, *frames], frames, strict=False):
            for frame in (caller, callee):
                if frame is None:
                    continue
                match = FRAME.match(frame)
                owner = package_of(match["path"]) if match else ""
                if owner in {service_package, "bare app"} or (
                    frame is callee
                    and caller is not None
                    and FRAME.match(caller)
                    and package_of(FRAME.match(caller)["path"]) in {service_package, "bare app"}
                ):
                    mine.add(short_frame(frame))
        for name in mine:
            inclusive[name] = inclusive.get(name, 0) + count
        leaf = short_frame(frames[-1])
        own[leaf] = own.get(leaf, 0) + count
        match = FRAME.match(frames[-1])
        package = package_of(match["path"]) if match else "native"
        packages[package] = packages.get(package, 0) + count
    if not total:
        return ["py-spy recorded no samples"]

    def top(counts: dict[str, int], n: int) -> str:
        ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)[:n]
        return ", ".join(f"{name} {100 * value / total:.0f}%" for name, value in ranked)

    return [
        f"{total} samples. Self time by package: {top(packages, 8)}.",
        f"Service code and what it calls (inclusive): {top(inclusive, 12)}.",
        f"Hottest functions (self): {top(own, 8)}.",
    ]


# --- cold start and import time -----------------------------------------------------------


def import_times(project: Project, repeat: int = 2) -> tuple[float, list[tuple[str, int, int]]]:
    """`python -X importtime -c "import <pkg>.app"`: total ms, and (module, self, cumulative) µs."""
    python = str(project.path / ".venv" / "bin" / "python")
    module = f"{project.package}.app"
    result = None
    for _ in range(repeat):  # the first run may still be writing bytecode caches
        result = run([python, "-X", "importtime", "-c", f"import {module}"], cwd=project.path)
    assert result is not None
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$", line)
        if match:
            rows.append((match[4], int(match[1]), int(match[2])))
    total = next((cumulative for name, _, cumulative in rows if name == module), 0)
    return total / 1000, rows


# --- report -------------------------------------------------------------------------------


def machine_facts(projects: dict[str, Project]) -> list[tuple[str, str]]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if match := re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M):
            cpu = match[1].strip()
    memory = "unknown"
    with contextlib.suppress(OSError):
        if match := re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M):
            memory = f"{int(match[1]) / 1024 / 1024:.1f} GiB"
    with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    pythons = {
        framework: run(
            [str(project.path / ".venv" / "bin" / "python"), "-V"], cwd=project.path
        ).stdout.strip()
        for framework, project in projects.items()
    }
    wrk_version = run(["wrk", "--version"], cwd=TEMPLATE)
    uv_version = run(["uv", "--version"], cwd=TEMPLATE).stdout.strip()
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu),
        ("memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", ", ".join(f"{fw}: {v}" for fw, v in pythons.items())),
        ("PostgreSQL", row[0] if row else "unknown"),
        ("wrk", (wrk_version.stdout + wrk_version.stderr).split("Copyright")[0].strip()),
        ("uv", uv_version),
    ]


def fmt_rps(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def median_cell(cells: list[Cell]) -> tuple[float, float, float, int] | None:
    if not cells:
        return None
    return (
        statistics.median(c.rps for c in cells),
        statistics.median(c.p50_ms for c in cells),
        statistics.median(c.p99_ms for c in cells),
        sum(c.errors for c in cells),
    )


def ratio(
    results: dict[tuple[str, str], list[Cell | None]],
    workload: str,
    top: str,
    bottom: str,
    cpu: bool = False,
) -> float | None:
    """Median of the per-run ratios (each pair measured minutes apart at most).

    Of req/s, or with cpu=True of requests per CPU-second (bottom's CPU ÷ top's CPU).
    """
    pairs = zip(results.get((workload, top), []), results.get((workload, bottom), []), strict=False)
    if cpu:
        values = [b.cpu_ms / a.cpu_ms for a, b in pairs if a and b and a.cpu_ms]
    else:
        values = [a.rps / b.rps for a, b in pairs if a and b and b.rps]
    return statistics.median(values) if values else None


def render(
    args: argparse.Namespace,
    facts: list[tuple[str, str]],
    targets: dict[str, Target],
    results: dict[tuple[str, str], list[Cell | None]],
    failures: dict[tuple[str, str], str],
    cold: dict[str, list[float]],
    imports: dict[str, tuple[float, list[tuple[str, int, int]]]],
    notes: list[str],
    started: datetime,
    load: tuple[str, str],
    profiles: dict[tuple[str, str], list[str]],
) -> str:
    out = [f"# Benchmark {started:%Y-%m-%d %H:%M}", ""]
    out.append(f"Command: `{' '.join(['uv run python bench/run.py', *args.argv])}`  ")
    runs = "1 run" if args.runs == 1 else f"median of {args.runs} runs"
    warmup = f", after a {args.warmup} s warm-up" if args.warmup else ""
    out.append(
        f"Load: wrk -t{args.threads} -c{args.connections}, {args.duration} s per cell{warmup}, "
        f"{runs}; loopback only. Servers: {args.workers} workers each, "
        f"{args.pool_size} database connections per worker (DATABASE_POOL_SIZE)."
    )
    out += ["", "| machine | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in facts]
    out.append(f"| load average (start → end) | {load[0]} → {load[1]} |")
    out += ["", "## Throughput and latency", ""]
    out.append("req/s (higher is better), latency p50 / p99 in ms; ratios are of req/s.")
    out.append("")
    head = ["workload"]
    for key in TARGET_ORDER:
        head += [f"{TARGET_LABELS[key]} req/s", "p50 / p99 ms"]
    head += [title for title, _, _ in RATIOS]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    below = []
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}"]
        for key in TARGET_ORDER:
            target = targets.get(key)
            if target is None or target.skipped:
                row += ["skipped", "—"]
                continue
            if (workload.key, key) in failures:
                row += ["failed", "—"]
                continue
            cell = median_cell([c for c in results.get((workload.key, key), []) if c])
            if cell is None:
                row += ["—", "—"]
                continue
            flag = f" ⚠{cell[3]} errors" if cell[3] else ""
            row += [f"{fmt_rps(cell[0])}{flag}", f"{cell[1]:.2f} / {cell[2]:.2f}"]
        for title, top, bottom in RATIOS:
            value = ratio(results, workload.key, top, bottom)
            row.append("—" if value is None else f"{value:.2f}")
            generated_vs_bare = bottom in {"starlette", "flask-bare"}
            if value is not None and number >= 2 and generated_vs_bare and value < TARGET_RATIO:
                below.append(f"{title} on {number}. {workload.label}: {value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if below:
        out.append(f"Below the {TARGET_RATIO:.2f} target (workloads 2-4): {'; '.join(below)}.")
    else:
        out.append(f"Every generated/bare ratio measured on workloads 2-4 is ≥ {TARGET_RATIO:.2f}.")
    out += ["", "### Server CPU per request", ""]
    out.append(
        "CPU time (user + system) of all the server's processes during the measured cell, "
        "÷ requests, in ms (lower is better). Less sensitive to other load on the machine than "
        "req/s. Ratios are of requests per CPU-second (bare's CPU ÷ generated's CPU), so they "
        "read like the req/s ratios."
    )
    out += ["", "| workload | " + " | ".join(TARGET_LABELS[k] for k in TARGET_ORDER) + " | "]
    out[-1] += " | ".join(title for title, _, _ in RATIOS) + " |"
    out.append("|" + "---|" * (len(TARGET_ORDER) + len(RATIOS) + 1))
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}"]
        for key in TARGET_ORDER:
            cells = [c for c in results.get((workload.key, key), []) if c]
            row.append(f"{statistics.median(c.cpu_ms for c in cells):.2f}" if cells else "—")
        for _, top, bottom in RATIOS:
            value = ratio(results, workload.key, top, bottom, cpu=True)
            row.append("—" if value is None else f"{value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    out += render_orm_split(targets, results, failures)
    if any(key in targets for key in TELEMETRY_TARGETS):
        out += render_telemetry(targets, results)
    if args.runs > 1:
        out += ["", "### req/s per run", ""]
        out += ["| workload | " + " | ".join(TARGET_LABELS[k] for k in ALL_TARGETS) + " |"]
        out.append("|" + "---|" * (len(ALL_TARGETS) + 1))
        for workload in WORKLOADS:
            cells = [
                " / ".join(fmt_rps(c.rps) if c else "—" for c in results.get((workload.key, k), []))
                or "—"
                for k in ALL_TARGETS
            ]
            out.append(f"| {workload.label} | " + " | ".join(cells) + " |")
    out += ["", "## Cold start", ""]
    out.append(
        "From spawning `<slug> serve` to the first 200 on GET /health "
        f"({args.workers} workers, bytecode already compiled)."
    )
    out += ["", "| variant | median | min | max | samples |", "|---|---|---|---|---|"]
    for framework, samples in cold.items():
        if samples:
            out.append(
                f"| {framework} | {statistics.median(samples):.2f} s | {min(samples):.2f} s "
                f"| {max(samples):.2f} s | {len(samples)} |"
            )
    for framework, (total, rows) in imports.items():
        out += ["", f"### Import time: `import {framework_package(targets, framework)}.app` "
                f"({framework}) — {total:.0f} ms in all", ""]  # fmt: skip
        out += ["| # | by cumulative | ms | by self | ms |", "|---|---|---|---|---|"]
        by_cumulative = sorted(rows, key=lambda r: r[2], reverse=True)[:10]
        by_self = sorted(rows, key=lambda r: r[1], reverse=True)[:10]
        for rank, (cum, own) in enumerate(zip(by_cumulative, by_self, strict=False), start=1):
            out.append(
                f"| {rank} | `{cum[0]}` | {cum[2] / 1000:.1f} | `{own[0]}` | {own[1] / 1000:.1f} |"
            )
    if profiles:
        out += ["", "## Profiles (py-spy, GIL holders, 100 Hz)", ""]
        for workload in WORKLOADS:
            for key in ALL_TARGETS:
                if (workload.key, key) in profiles:
                    out.append(f"**{TARGET_LABELS[key]}, {workload.label}.** ")
                    out[-1] += " ".join(profiles[(workload.key, key)])
                    out.append("")
    skipped = [t for t in targets.values() if t.skipped]
    extra = [f"{t.label} skipped: {t.skipped}" for t in skipped]
    extra += [f"{t.label}: {t.note}" for t in targets.values() if t.note]
    extra += [f"{TARGET_LABELS[k]} on {w}: {why}" for (w, k), why in failures.items()]
    extra += notes
    if extra:
        out += ["", "## Notes", ""] + [f"- {line}" for line in extra]
    return "\n".join(out) + "\n"


def render_orm_split(
    targets: dict[str, Target],
    results: dict[tuple[str, str], list[Cell | None]],
    failures: dict[tuple[str, str], str],
) -> list[str]:
    """The bare apps again with the SQLAlchemy ORM: how much of each gap is the ORM's."""
    out = ["", "### The ORM's share: the bare apps with SQLAlchemy", ""]
    out.append(
        "The same bare apps with every query through a SQLAlchemy ORM session per request "
        "(asyncio + asyncpg for Starlette, psycopg for Flask; the generated services' engine "
        "settings), nothing else of the template. `bare + ORM ÷ bare` is what the ORM costs "
        "by itself; `generated ÷ bare + ORM` is the rest: the framework layer (FastAPI over "
        "Starlette; flask-smorest, marshmallow, Flask-SQLAlchemy) and the template's own code. "
        "req/s (CPU ms per request); ratios of req/s, median of the per-run ratios."
    )
    out.append("")
    head = ["workload", *(TARGET_LABELS[k] for k in ORM_ORDER), *(t for t, _, _ in ORM_RATIOS)]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}"]
        for key in ORM_ORDER:
            target = targets.get(key)
            cells = [c for c in results.get((workload.key, key), []) if c]
            if target is None or target.skipped:
                row.append("skipped")
            elif (workload.key, key) in failures:
                row.append("failed")
            elif not cells:
                row.append("—")
            else:
                rps = statistics.median(c.rps for c in cells)
                cpu = statistics.median(c.cpu_ms for c in cells)
                row.append(f"{rps:.0f} ({cpu:.2f} ms)")
        for _, top, bottom in ORM_RATIOS:
            value = ratio(results, workload.key, top, bottom)
            row.append("—" if value is None else f"{value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    return out


TELEMETRY_BUDGET = 0.95  # metrics on must keep at least this share of the req/s without them


def render_telemetry(
    targets: dict[str, Target], results: dict[tuple[str, str], list[Cell | None]]
) -> list[str]:
    """Each generated service as shipped (metrics on) next to metrics off and tracing on."""
    out = ["", "### Telemetry's cost", ""]
    out.append(
        "The generated service as shipped (metrics on; traces and error reports off) next to "
        "the same service with METRICS_ENABLED=false, and with traces exported over OTLP/HTTP "
        "to a sink in the harness. req/s (CPU ms per request), medians; ratios are medians of "
        "the per-run ratios, of req/s and of requests per CPU-second."
    )
    out.append("")
    head = ["workload", "variant", "metrics on (default)", "metrics off", "tracing on"]
    head += ["on ÷ off req/s", "on ÷ off CPU", "tracing ÷ on req/s", "tracing ÷ on CPU"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    over = []
    for number, workload in enumerate(WORKLOADS, start=1):
        for framework in ("fastapi", "flask"):
            keys = [framework, f"{framework}-metrics-off", f"{framework}-tracing"]
            if not any(key in targets for key in keys[1:]):
                continue
            row = [f"{number}. {workload.label}", framework]
            for key in keys:
                cells = [c for c in results.get((workload.key, key), []) if c]
                if not cells:
                    row.append("—")
                    continue
                rps = statistics.median(c.rps for c in cells)
                row.append(f"{rps:.0f} ({statistics.median(c.cpu_ms for c in cells):.2f} ms)")
            for top, bottom in ((keys[0], keys[1]), (keys[2], keys[0])):
                for cpu in (False, True):
                    value = ratio(results, workload.key, top, bottom, cpu=cpu)
                    row.append("—" if value is None else f"{value:.3f}")
            on_off = ratio(results, workload.key, keys[0], keys[1])
            if number >= 2 and on_off is not None and on_off < TELEMETRY_BUDGET:
                over.append(f"{framework} on {number}. {workload.label}: {on_off:.3f}")
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    if over:
        budget = f"{1 - TELEMETRY_BUDGET:.0%}"
        out.append(f"Metrics cost more than {budget} of req/s: {'; '.join(over)}.")
    else:
        out.append(
            f"Metrics on keep ≥ {TELEMETRY_BUDGET:.2f} of the req/s without them on workloads 2-4."
        )
    return out


def framework_package(targets: dict[str, Target], framework: str) -> str:
    target = targets.get(framework)
    return target.env.get("BENCH_PACKAGE", "<pkg>") if target else "<pkg>"


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is shown")
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each cell")
    parser.add_argument("--connections", type=int, default=10, help="wrk connections (-c)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="server workers for every target (WEB_CONCURRENCY, default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--pool-size", type=int, default=5,
        help="database connections each server worker keeps (DATABASE_POOL_SIZE, default 5): "
        "six servers must fit in PostgreSQL's max_connections",
    )  # fmt: skip
    parser.add_argument("--cold-starts", type=int, default=3, help="cold-start samples per variant")
    parser.add_argument(
        "--targets", default=",".join(DEFAULT_TARGETS),
        help="comma-separated servers to load, of: " + ", ".join(ALL_TARGETS)
        + " (a variant's generated service comes along with its other rows: it seeds them)",
    )  # fmt: skip
    parser.add_argument(
        "--telemetry", action="store_true",
        help="what metrics and traces cost: --targets " + ",".join(TELEMETRY_RUN),
    )  # fmt: skip
    parser.add_argument(
        "--workloads", default=",".join(w.key for w in WORKLOADS),
        help="comma-separated subset of: " + ", ".join(w.key for w in WORKLOADS),
    )  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true",
        help="check the harness end to end: 1 s cells, 1 run, no warm-up, 1 cold start",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, help="report path (default bench/results/<date>.md)")
    parser.add_argument("--workdir", type=Path, help="where to bake (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the bakes and the databases")
    parser.add_argument(
        "--profile", action="store_true",
        help="after the runs, profile every server on workloads 2-4 with py-spy (to the report)",
    )  # fmt: skip
    parser.add_argument("--profile-seconds", type=int, default=8, help="py-spy seconds per cell")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.smoke:
        args.runs, args.duration, args.warmup, args.cold_starts = 1, 1, 0, 1
    counts = [args.runs, args.duration, args.workers, args.connections, args.threads]
    counts.append(args.pool_size)
    if min(counts) < 1:
        parser.error(
            "--runs, --duration, --workers, --connections, --threads and --pool-size must be ≥ 1"
        )
    known = {w.key for w in WORKLOADS}
    chosen = [key.strip() for key in args.workloads.split(",") if key.strip()]
    if not chosen or not set(chosen) <= known:
        parser.error(f"--workloads takes a comma-separated subset of {', '.join(sorted(known))}")
    args.workload_keys = chosen
    targets = (
        TELEMETRY_RUN
        if args.telemetry
        else [key.strip() for key in args.targets.split(",") if key.strip()]
    )
    if not targets or not set(targets) <= set(ALL_TARGETS):
        parser.error(f"--targets takes a comma-separated subset of {', '.join(ALL_TARGETS)}")
    twins = {
        framework
        for key in targets
        for framework, _ in [BARE_APPS.get(key) or TELEMETRY_TARGETS.get(key) or (key, None)]
    }
    args.target_keys = [key for key in ALL_TARGETS if key in targets or key in twins]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.now().astimezone()
    if ensure_wrk() is None:
        print("bench: wrk is not available, so nothing was measured.", file=sys.stderr)
        return EXIT_NO_WRK
    with contextlib.ExitStack() as cleanup:
        if args.workdir:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="bench-"))
            if not args.keep:
                cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        return measure(args, workdir, started, cleanup)


def measure(
    args: argparse.Namespace, workdir: Path, started: datetime, cleanup: contextlib.ExitStack
) -> int:
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    offered: list[str] = json.loads((TEMPLATE / "cookiecutter.json").read_text())["framework"]
    frameworks = [framework for framework in offered if framework in args.target_keys]
    say(f"baking {', '.join(frameworks)} into {workdir}")
    projects: dict[str, Project] = {}
    skipped: dict[str, str] = {}
    for framework in frameworks:
        baked = bake(framework, workdir)
        if isinstance(baked, Project):
            projects[framework] = baked
        else:
            skipped[framework] = baked
            say(f"SKIPPING the {framework} variant: {baked}")
    say("syncing bench/baselines")
    sync_baselines()

    secret = secrets.token_urlsafe(36)  # 48 characters
    databases: dict[str, Database] = {}
    for framework in projects:
        databases[framework] = create_database(framework)
        if not args.keep:
            cleanup.callback(drop_database, databases[framework])

    targets: dict[str, Target] = {}
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    for framework, project in projects.items():
        port = free_port()
        env = service_env(databases[framework], secret, port, args.workers, args.pool_size)
        env["BENCH_PACKAGE"] = project.package  # not read by the service; names it in the report
        env["METRICS_PORT"] = str(free_port())  # the metrics listener's own port
        targets[framework] = Target(
            framework, TARGET_LABELS[framework], framework,
            command=[str(project.path / ".venv" / "bin" / project.slug), "serve"],
            cwd=project.path, env=env, port=port, database=databases[framework],
            log=logs / f"{framework}.log",
        )  # fmt: skip
    for framework in frameworks:
        if framework in skipped:
            targets[framework] = Target(framework, TARGET_LABELS[framework], framework)
            targets[framework].skipped = skipped[framework]
    if not databases:
        say("no variant could be baked and synced; nothing to measure")
        return 1

    # The bare apps share their generated twin's database; without the twin, the other one's.
    def twin_database(framework: str) -> tuple[Database, str | None]:
        if framework in databases:
            return databases[framework], None
        other = next(iter(databases))
        return databases[other], f"ran on the {other} variant's database ({framework} skipped)"

    bin_dir = BASELINES / ".venv" / "bin"
    flask_env = service_env(
        next(iter(databases.values())), secret, free_port(), args.workers, args.pool_size
    )
    gunicorn, source = gunicorn_settings(projects.get("flask"), flask_env)
    for key, (framework, module) in BARE_APPS.items():
        if key not in args.target_keys:
            continue
        database, note = twin_database(framework)
        port = free_port()
        if framework == "fastapi":
            command = [
                str(bin_dir / "uvicorn"), f"{module}:app", "--host", "127.0.0.1", "--port",
                str(port), "--workers", str(args.workers), "--no-access-log", "--log-level",
                "warning", "--no-server-header",
            ]  # fmt: skip
        else:
            command = [
                str(bin_dir / "gunicorn"), f"{module}:app", "--bind", f"127.0.0.1:{port}",
                "--workers", str(args.workers), "--worker-class", gunicorn["worker_class"],
                "--threads", gunicorn["threads"], "--keep-alive", gunicorn["keepalive"],
                "--log-level", "warning", "--no-control-socket",
            ]  # fmt: skip
            if gunicorn.get("worker_tmp_dir") and gunicorn["worker_tmp_dir"] != "None":
                command += ["--worker-tmp-dir", gunicorn["worker_tmp_dir"]]
        targets[key] = Target(
            key, TARGET_LABELS[key], framework, command=command, cwd=BASELINES,
            env=clean_env(
                DATABASE_URL=database.url, SECRET_KEY=secret,
                DATABASE_POOL_SIZE=str(args.pool_size),
            ),
            port=port,
            database=database, log=logs / f"{key}.log", note=note,
        )  # fmt: skip
    otlp_sink = start_otlp_sink(cleanup)
    for key, (framework, changes) in TELEMETRY_TARGETS.items():
        twin = targets.get(framework)
        if key not in args.target_keys or twin is None or twin.skipped:
            continue
        port = free_port()
        env = twin.env | {key: value.format(otlp_sink=otlp_sink) for key, value in changes.items()}
        env |= {"PORT": str(port), "METRICS_PORT": str(free_port())}
        targets[key] = Target(
            key, TARGET_LABELS[key], framework, command=twin.command, cwd=twin.cwd, env=env,
            port=port, database=twin.database, log=logs / f"{key}.log",
        )  # fmt: skip
    notes = [
        f"Flask servers: gunicorn {gunicorn['worker_class']}, {args.workers} workers x "
        f"{gunicorn['threads']} threads, keep-alive {gunicorn['keepalive']} s (from {source})."
    ]

    running = [t for t in targets.values() if not t.skipped]
    for target in running:
        cleanup.callback(stop, target)
    for framework, project in projects.items():
        target = targets[framework]
        say(f"migrating the {framework} database")
        migrated = run([target.command[0], "migrate"], cwd=project.path, env=target.env)
        if migrated.returncode != 0:
            target.skipped = f"`{project.slug} migrate` failed: {tail(migrated.stderr)}"
            say(f"SKIPPING {target.label}: {target.skipped}")
    for key in [*BARE_APPS, *TELEMETRY_TARGETS]:
        if key not in targets:
            continue
        target = targets[key]
        twin = next(
            (t for t in targets.values() if t.database is target.database and t.key in projects),
            None,
        )
        if twin is not None and twin.skipped:
            target.skipped = f"its database could not be migrated ({twin.label} skipped)"
    # Every server starts at once (they take seconds each); the bare ones need no data to start.
    say("starting " + ", ".join(f"{t.label} on {t.url}" for t in targets.values() if not t.skipped))
    spawned = {key: spawn(t) for key, t in targets.items() if not t.skipped}
    for key, started_at in spawned.items():
        target = targets[key]
        try:
            wait_until_up(target, started_at)
        except RuntimeError as exc:
            target.skipped = f"did not come up: {exc}"
            say(f"SKIPPING {target.label}: {target.skipped}")
    for framework in projects:
        target = targets[framework]
        if target.skipped is None and target.database is not None:
            say(f"seeding {target.database.name} through the {framework} service's API")
            target.database.seed = seed(target.url)
    for key in [*BARE_APPS, *TELEMETRY_TARGETS]:
        target = targets.get(key)
        if target is None:
            continue
        if not target.skipped and (target.database is None or target.database.seed is None):
            target.skipped = "its database could not be seeded (its generated twin did not start)"
            stop(target)
    running = [targets[k] for k in ALL_TARGETS if k in targets and not targets[k].skipped]
    notes += compare_task_json(running)

    workloads = [w for w in WORKLOADS if w.key in args.workload_keys]
    results: dict[tuple[str, str], list[Cell | None]] = {}
    failures: dict[tuple[str, str], str] = {}
    wrk_log = logs / "wrk.log"
    for run_number in range(args.runs):
        say(f"run {run_number + 1} of {args.runs}")
        order = running[run_number % len(running) :] + running[: run_number % len(running)]
        for workload in workloads:
            for database in databases.values():
                analyze(database)
            for target in order:
                if (workload.key, target.key) in failures:
                    continue
                if problem := probe(target, workload):
                    failures[(workload.key, target.key)] = problem
                    say(f"{target.label} fails {workload.label}: {problem}")
                    continue
                if args.warmup:
                    wrk(target, workload, args.warmup, args, wrk_log)
                cell = wrk(target, workload, args.duration, args, wrk_log)
                results.setdefault((workload.key, target.key), []).append(cell)
                say(
                    f"  {workload.label:32} {target.label:22} {cell.rps:8.0f} req/s  "
                    f"p50 {cell.p50_ms:6.2f} ms  p99 {cell.p99_ms:6.2f} ms"
                    + (f"  {cell.errors} errors" if cell.errors else "")
                )

    profiles: dict[tuple[str, str], list[str]] = {}
    if args.profile:
        raw_dir = RESULTS / "tmp" / f"profiles-{started:%Y-%m-%d-%H%M}"
        raw_dir.mkdir(parents=True, exist_ok=True)
        for workload in workloads:
            if workload.key == "health":
                continue
            for target in running:
                if (workload.key, target.key) in failures:
                    continue
                say(f"profiling {target.label} on {workload.label}")
                package = projects[target.key].package if target.key in projects else None
                raw = raw_dir / f"{target.key}-{workload.key}.txt"
                profiles[(workload.key, target.key)] = profile(
                    target, workload, args.profile_seconds, args, raw, package
                )
        notes.append(f"py-spy raw stacks (flamegraph.pl input): {raw_dir}")

    for target in running:
        stop(target)
    cold: dict[str, list[float]] = {}
    imports: dict[str, tuple[float, list[tuple[str, int, int]]]] = {}
    for framework, project in projects.items():
        target = targets[framework]
        if target.skipped:
            continue
        say(f"cold start and import time of the {framework} service")
        cold[framework] = []
        for _ in range(args.cold_starts):
            try:
                cold[framework].append(start(target))
            except RuntimeError as exc:
                notes.append(f"{target.label} cold start failed: {exc}")
                break
            finally:
                stop(target)
        imports[framework] = import_times(project, repeat=1 if args.smoke else 2)

    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report = render(
        args, machine_facts(projects), targets, results, failures, cold, imports, notes,
        started, (load_start, load_end), profiles,
    )  # fmt: skip
    output = args.output or (
        RESULTS / "tmp" / f"smoke-{started:%Y-%m-%d}.md"
        if args.smoke
        else RESULTS / f"{started:%Y-%m-%d}.md"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")
    print(report)
    say(f"report written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

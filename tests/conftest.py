"""Bake the template once per answer set and share the baked projects between tests.

PostgreSQL: tests marked `postgres` use TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test). When CI=true they fail if it can't be reached;
elsewhere they are skipped with the reason shown.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text())
FRAMEWORKS: list[str] = CHOICES["framework"]
LICENSES: list[str] = CHOICES["license"]
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class Project:
    """A baked project with its virtual environment synced from the shipped lock file."""

    path: Path
    framework: str
    slug: str
    package: str

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return run(list(args), cwd=self.path, env=env, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands in a baked project: no leaking venv or app settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "DATABASE_URL", "TEST_DATABASE_URL", "PYTHONPATH"}
    }
    env.update(extra)
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def bake(output_dir: Path, **answers: str) -> Project:
    path = Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)
        )
    )
    text = (path / "pyproject.toml").read_text()
    slug = re.search(r'^name = "([^"]+)"', text, re.M)
    package = re.search(r'module-name = "([^"]+)"', text)
    assert slug, "pyproject.toml lacks the project name"
    assert package, "pyproject.toml lacks the module name"
    return Project(path, answers.get("framework", FRAMEWORKS[0]), slug[1], package[1])


def synced(project: Project) -> Project:
    result = project.run("uv", "sync", "--locked")
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(scope="session", params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def default_bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    """Each framework baked once with the default answers, on first use."""

    class Bakes(dict[str, Project]):
        def __missing__(self, framework: str) -> Project:
            output = tmp_path_factory.mktemp(f"bake-{framework}")
            project = self[framework] = synced(bake(output, framework=framework))
            return project

    return Bakes()


@pytest.fixture(scope="session")
def baked(framework: str, default_bakes: dict[str, Project]) -> Project:
    """The project baked with every default answer but the framework, synced and ready."""
    return default_bakes[framework]


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else the reason it doesn't."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}".strip()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = postgres_available()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


def create_database(server: str) -> tuple[str, str]:
    """Create an empty database on the server; return its name and URL."""
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, to_url(psycopg.conninfo.make_conninfo(server, dbname=name))


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name, url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, name)


def to_url(conninfo: str) -> str:
    """postgresql:// URL form of a libpq conninfo string."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = parts.get("user", "postgres")
    password = f":{parts['password']}" if parts.get("password") else ""
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{user}{password}@{host}:{port}/{parts['dbname']}"


SECRET_KEY = "template-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """A generated service running as its own process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def service_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    defaults = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        # Metrics have a listener of their own: services run side by side need a port each.
        "METRICS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "LOG_FORMAT": "json",
    }
    return clean_env(**(defaults | extra))


@contextlib.contextmanager
def serve(
    project: Project, database_url: str, *, migrate: bool = True, **extra: str
) -> Iterator[Service]:
    """`<slug> migrate`, then `<slug> serve` until the block ends (SIGTERM, then wait)."""
    port = free_port()
    env = service_env(database_url, port, **extra)
    command = str(project.path / ".venv" / "bin" / project.slug)
    if migrate:
        result = project.run(command, "migrate", env=env, timeout=120)
        assert result.returncode == 0, result.stderr
    log = project.path / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [command, "serve"], cwd=project.path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    service = Service(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_up(service)
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_until_up(service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"the server exited with {service.process.returncode}:\n{service.output()}")
        try:
            if httpx.get(f"{service.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer within {timeout} s:\n{service.output()}")

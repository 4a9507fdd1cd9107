"""Bake, sync, serve: the one harness the template's tests and the benchmark share.

Not a test module and free of pytest, so `python -m bench` imports it too (`tests.harness`).
It owns baking a project, syncing its environment (as the tests or as the Dockerfile do),
creating and dropping PostgreSQL databases, a private PostgreSQL cluster for fault tests,
and starting a server by its production command in a process group of its own, waiting
until it answers and stopping it (SIGTERM to the group, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml

TEMPLATE = Path(__file__).resolve().parents[1]
CHOICES = json.loads((TEMPLATE / "cookiecutter.json").read_text())
FRAMEWORKS: list[str] = CHOICES["framework"]
LICENSES: list[str] = CHOICES["license"]
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TOOLS = Path(sys.executable).parent  # the template's venv: hadolint, actionlint, cruft, ...
SECRET_KEY = "template-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# Variables that would leak the caller's environment into a baked project and its uv.
LEAKY_ENV = {
    "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "PYTHONHOME", "DATABASE_URL",
    "TEST_DATABASE_URL", "SECRET_KEY", "ENVIRONMENT", "PORT", "HOST", "WEB_CONCURRENCY",
    "PYTHONDONTWRITEBYTECODE",
}  # fmt: skip
# As the Dockerfile installs a project: no dev tools, not editable, bytecode compiled.
PRODUCTION_SYNC = ["uv", "sync", "--locked", "--no-dev", "--no-editable", "--compile-bytecode"]
DEVELOPMENT_SYNC = ["uv", "sync", "--locked"]


# --- commands -----------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands in a baked project: no leaking venv or app settings."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}
    env.update(extra)
    return env


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def tail(text: str, lines: int = 6) -> str:
    """The last lines of some output, on one line."""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def tool(name: str) -> str:
    """A command-line tool installed in the template's own venv."""
    path = TOOLS / name
    assert path.is_file(), f"{name} is not installed in the template's venv: run `uv sync`"
    return str(path)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- baking and syncing -------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    """A baked project (synced when it came from `synced`)."""

    path: Path
    framework: str
    slug: str
    package: str

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return run(list(args), cwd=self.path, env=env, timeout=timeout)

    def command(self, name: str | None = None) -> str:
        """A command of the project's venv; its own (`<slug>`) by default."""
        return str(self.path / ".venv" / "bin" / (name or self.slug))


def bake(output_dir: Path, *, overwrite: bool = False, **answers: str) -> Project:
    """Bake the template with `answers` (defaults for the rest) into `output_dir`."""
    from cookiecutter.main import cookiecutter

    path = Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir),
            overwrite_if_exists=overwrite,
        )
    )  # fmt: skip
    return load_project(path, answers.get("framework", FRAMEWORKS[0]))


def load_project(path: Path, framework: str) -> Project:
    """The project baked at `path`, its names read from its pyproject.toml."""
    text = (path / "pyproject.toml").read_text(encoding="utf-8")
    slug = re.search(r'^name = "([^"]+)"', text, re.M)
    package = re.search(r'module-name = "([^"]+)"', text)
    if not (slug and package):
        raise ValueError(f"{path / 'pyproject.toml'} names no project or no module")
    return Project(path, framework, slug[1], package[1])


def sync(project: Project, *, production: bool = False) -> subprocess.CompletedProcess[str]:
    """`uv sync --locked`, with dev tools; or as the Dockerfile does with production=True."""
    return project.run(*(PRODUCTION_SYNC if production else DEVELOPMENT_SYNC), timeout=600)


def synced(project: Project, *, production: bool = False) -> Project:
    result = sync(project, production=production)
    assert result.returncode == 0, result.stderr
    return project


def bake_cli(
    output_dir: Path | str, *answers: str, force: bool = False, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run cookiecutter as a user would, from the command line (in `cwd`, as a shell would)."""
    args = [
        sys.executable,
        "-m",
        "cookiecutter",
        str(TEMPLATE),
        "--no-input",
        "-o",
        str(output_dir),
    ]
    return subprocess.run(
        [*args, *(["-f"] if force else []), *answers],
        cwd=cwd,
        env=os.environ | {"PWD": str(cwd)} if cwd else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


# --- PostgreSQL ---------------------------------------------------------------------------


def to_url(conninfo: str) -> str:
    """postgresql:// URL form of a libpq conninfo string (or URL)."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    user = parts.get("user", "postgres")
    password = f":{parts['password']}" if parts.get("password") else ""
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{user}{password}@{host}:{port}/{parts['dbname']}"


def postgres_unreachable(server: str = POSTGRES_URL) -> str | None:
    """None when PostgreSQL answers, else the reason it doesn't."""
    try:
        with psycopg.connect(server, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {server} is unreachable: {exc}".strip()


def create_database(server: str, prefix: str = "tmpl", owner: str | None = None) -> tuple[str, str]:
    """Create an empty database on the server; return its name and URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else ""))
    conninfo = psycopg.conninfo.make_conninfo(
        server, dbname=name, **({"user": owner} if owner else {})
    )
    return name, to_url(conninfo)


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_binaries() -> Path | None:
    """Where initdb and pg_ctl are (Debian's versioned folder first), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    """A PostgreSQL server of the caller's own: it may be stopped, killed and starved."""

    bin: Path
    data: Path
    port: int
    user: str | None  # the OS user it runs as, when the tests run as root

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("start", "-w", "-l", str(self.data / "server.log"), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-w", "-m", mode)

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.url, dbname=dbname, autocommit=True) as connection:
            cursor = connection.execute(sql)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def create_database(self, owner: str = "postgres") -> str:
        return create_database(self.url, "attack", owner)[1]


@contextlib.contextmanager
def private_cluster(binaries: Path) -> Iterator[Cluster]:
    """initdb a cluster in a temporary folder, serve it on a free port, remove it at the end."""
    user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    data = Path(tempfile.mkdtemp(prefix="private-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    if user:
        initdb = ["runuser", "-u", user, "--", *initdb]
    subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True, timeout=120)
    cluster = Cluster(binaries, data, free_port(), user)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop("immediate")
        shutil.rmtree(data, ignore_errors=True)


# --- servers ------------------------------------------------------------------------------


class ServerDown(RuntimeError):
    """The server exited, or did not answer in time; the message holds its log's tail."""

    def __init__(self, why: str, log: str) -> None:
        super().__init__(f"{why}:\n{log[-3000:]}")
        self.summary = f"{why}: {tail(log)}"  # on one line, for a report


@dataclass
class Server:
    """A server process in a process group of its own: stopped as one, workers included."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def spawn(self) -> float:
        """Start the process (its log appended to); when it started (perf_counter)."""
        with self.log.open("ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return started

    def wait_until_up(
        self, started: float | None = None, path: str = "/health", timeout: float = 60
    ) -> float:
        """Seconds from `started` until `path` answered 200; ServerDown if it never does."""
        assert self.process is not None, "spawn() first"
        started = time.perf_counter() if started is None else started
        while time.perf_counter() < started + timeout:
            if self.process.poll() is not None:
                raise ServerDown(f"exited with {self.process.returncode}", self.output())
            if http_status(self.host, self.port, path) == 200:
                return time.perf_counter() - started
            time.sleep(0.005)
        self.stop()
        raise ServerDown(f"no 200 on {path} within {timeout:.0f} s", self.output())

    def start(self, path: str = "/health", timeout: float = 60) -> float:
        """Spawn and wait: the seconds until `path` first answered 200."""
        return self.wait_until_up(self.spawn(), path, timeout)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM to the group, SIGKILL after `timeout`; the exit status (None if not run)."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # uvicorn's and gunicorn's workers leave with their master; make sure none lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.returncode

    @contextlib.contextmanager
    def running(self, path: str = "/health", timeout: float = 60) -> Iterator[Server]:
        """Started and answering on `path` inside the block, stopped after it."""
        try:
            self.start(path, timeout)
            yield self
        finally:
            self.stop()


def http_status(host: str, port: int, path: str = "/health") -> int | None:
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def service_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """A generated service's production settings on 127.0.0.1, one worker, JSON logs."""
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


def run_migrations(project: Project, env: dict[str, str], cwd: Path | None = None) -> None:
    """`<slug> migrate` with the service's settings; AssertionError with its output if it fails."""
    result = run([project.command(), "migrate"], cwd=cwd or project.path, env=env, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr


def production_server(
    project: Project, database_url: str, log_dir: Path | None = None, **extra: str
) -> Server:
    """`<slug> serve` as production starts it, on a free port, not started yet."""
    port = int(extra.pop("PORT", free_port()))
    env = service_env(database_url, port, **extra)
    # Beside the project, not in it: a log in the project would be in its Docker build context.
    log = (log_dir or project.path.parent) / f"serve-{project.framework}-{port}.log"
    return Server([project.command(), "serve"], project.path, env, log, port)


@contextlib.contextmanager
def serve(
    project: Project, database_url: str, *, migrate: bool = True, **extra: str
) -> Iterator[Server]:
    """`<slug> migrate`, then `<slug> serve` until the block ends (stopped by process group)."""
    server = production_server(project, database_url, **extra)
    if migrate:
        run_migrations(project, server.env)
    with server.running():
        yield server


# --- the image's commands, run from a folder laid out like its WORKDIR ---------------------


def load_all_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (anything before the first FROM is dropped)."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def exec_form(arguments: str) -> list[str]:
    """The argv of an exec-form CMD/ENTRYPOINT; fails for the shell form."""
    value = json.loads(arguments)
    assert isinstance(value, list), f"not exec form: {arguments}"
    assert all(isinstance(item, str) for item in value)
    return value


def image_cmd(project: Project) -> list[str]:
    cmds = [rest for kw, rest in stages(project.path / "Dockerfile")[-1] if kw == "CMD"]
    assert len(cmds) == 1, cmds
    return exec_form(cmds[0])


def runtime_copies(project: Project) -> list[tuple[list[str], str]]:
    """(sources, destination) of the final stage's COPY instructions from the build context."""
    copies = []
    for keyword, rest in stages(project.path / "Dockerfile")[-1]:
        if keyword != "COPY":
            continue
        words = shlex.split(rest)
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        copies.append((paths[:-1], paths[-1]))
    return copies


def k8s_docs(project: Project, name: str) -> list[dict[str, Any]]:
    return load_all_yaml(project.path / "k8s" / "base" / name)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def migration_job(project: Project) -> dict[str, Any]:
    [job] = k8s_docs(project, "migrate-job.yaml")
    assert job["kind"] == "Job"
    return job


def job_command(project: Project) -> list[str]:
    [container] = pod_spec(migration_job(project))["containers"]
    command: list[str] = container["command"] + container.get("args", [])
    return command


def image_workdir(project: Project, root: Path) -> Path:
    """A folder laid out like the image's WORKDIR: only what the runtime stage COPYs there
    (with COPY's rules: a directory's contents go into the destination; a destination
    ending in / or taking several sources is a directory)."""
    workdir = root / "app"
    workdir.mkdir(parents=True)
    for sources, destination in runtime_copies(project):
        into_dir = destination.endswith(("/", ".")) or len(sources) > 1
        target = workdir / destination
        for source in sources:
            origin = project.path / source
            if origin.is_dir():
                shutil.copytree(
                    origin, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )  # fmt: skip
            else:
                file_target = target / origin.name if into_dir else target
                file_target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, file_target)
    (workdir / "var").mkdir(exist_ok=True)
    return workdir


APP_SETTINGS = {
    "ENVIRONMENT", "SECRET_KEY", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "HOST", "PORT",
    "METRICS_PORT", "WEB_CONCURRENCY", "GRACEFUL_TIMEOUT", "ACCESS_TOKEN_EXPIRE_MINUTES",
}  # fmt: skip


def image_env(project: Project, **settings: str) -> dict[str, str]:
    """A container's environment: the project's venv first on PATH, only the given settings."""
    env = {key: value for key, value in clean_env().items() if key not in APP_SETTINGS}
    env.update(settings)
    env["PATH"] = f"{project.path / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def production_settings(**extra: str) -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),  # the metrics listener's own port (9464 by default)
        **extra,
    }


def image_server(project: Project, root: Path, **settings: str) -> Server:
    """The image's CMD as a container runs it, not started yet: from a folder laid out like
    the image's WORKDIR, with only its settings, after the migration Job's command ran there."""
    workdir = image_workdir(project, root)
    env_settings = production_settings(**settings)
    env = image_env(project, **env_settings)
    migrated = run(job_command(project), cwd=workdir, env=env, timeout=180)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = int(env_settings["PORT"])
    return Server(image_cmd(project), workdir, env, root / "serve.log", port)


# --- git ---------------------------------------------------------------------------------


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run(["git", *args], cwd=cwd, env=clean_env(**GIT_ENV), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result

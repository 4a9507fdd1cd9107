"""Each framework's image, built and run for real on a private Docker daemon.

The image is built by the generated `make docker-build`; `<slug> migrate` runs in one
container, `<slug> serve` (the image's CMD) in another, both with `--network host` against
a fresh PostgreSQL database on the host; then every row of the contract
(tests/test_contract.py) is walked against the container, and the image is checked for
what a production image must be: non-root, healthy by its own HEALTHCHECK, stopped cleanly
by `docker stop` under load, free of secrets, tests and dev tools, and small.

No registry is reachable from CI, so the two images the Dockerfile names are stood in
locally (tests/docker_daemon.py says how); the Dockerfile is built as shipped. One daemon
serves the whole module. Under CI=true these tests fail when Docker can't start; elsewhere
they are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml

from . import docker_daemon, test_contract
from .conftest import (
    IN_CI,
    SECRET_KEY,
    Project,
    clean_env,
    create_database,
    drop_database,
    free_port,
    run,
)
from .docker_daemon import DOCKER_CLI, Daemon, DockerUnavailable

MAX_IMAGE_BYTES = 300 * 1000 * 1000
GRACEFUL_TIMEOUT = 20  # seconds the server may drain for; `docker stop` waits longer
DEV_TOOLS = ("ruff", "mypy", "pytest")

# The contract's rows and the fixtures they use, collected again in this module: they now
# reach the container through the `base_url` fixture defined below.
CONTRACT_FIXTURES = ("http", "auth")
globals().update(
    {
        name: value
        for name, value in vars(test_contract).items()
        if name.startswith("test_") or name in CONTRACT_FIXTURES
    }
)


def start_daemon() -> Daemon:
    """A private daemon; without one, fail under CI=true and skip elsewhere, saying why."""
    try:
        return docker_daemon.start()
    except DockerUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI=true requires Docker: {exc}")
        pytest.skip(f"Docker can't start here: {exc}")


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    started = start_daemon()
    try:
        yield started
    finally:
        started.stop()


@dataclass(frozen=True)
class Image:
    tag: str
    project: Project
    build_flags: str  # what `make docker-build` needs here: the stand-in base, host network
    build_seconds: float


@pytest.fixture(scope="module")
def image(daemon: Daemon, baked: Project, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """The project's image, built by `make docker-build` from the Dockerfile as shipped."""
    dockerfile = baked.path / "Dockerfile"
    work = tmp_path_factory.mktemp("docker")
    python_image = docker_daemon.python_image(daemon, dockerfile, work)
    docker_daemon.uv_stage_image(daemon, dockerfile, work)
    # The build reaches PyPI from the daemon's host network: this daemon has no bridge.
    flags = f"--network host --build-arg PYTHON_IMAGE={python_image}"
    started = time.monotonic()
    result = run(
        ["make", "docker-build", f"DOCKER={DOCKER_CLI}", f"DOCKER_BUILD_FLAGS={flags}",
         f"TAG={baked.framework}"],
        cwd=baked.path, env=daemon.env(clean_env()), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return Image(f"{baked.slug}:{baked.framework}", baked, flags, time.monotonic() - started)


@pytest.fixture(scope="module")
def database(baked: Project, postgres_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one framework's containers."""
    name, url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, name)


@dataclass(frozen=True)
class Container:
    name: str
    url: str


def settings(database: str, port: int, **extra: str) -> list[str]:
    """`--env` options: the service's settings, nothing leaked from this process."""
    values = {
        "DATABASE_URL": database,
        "SECRET_KEY": SECRET_KEY,
        # Host network: listen on loopback only, not on every interface of the machine.
        "HOST": "127.0.0.1",
        "PORT": str(port),
        # Its own metrics port too: the default, 9464, may be taken on the host network.
        "METRICS_PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
    } | extra
    return [f"--env={key}={value}" for key, value in values.items()]


def migrate(daemon: Daemon, image: Image, database: str) -> None:
    result = daemon.docker(
        "run", "--rm", "--network=host", *settings(database, free_port()),
        image.tag, image.project.slug, "migrate",
        timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@contextmanager
def serving(daemon: Daemon, image: Image, database: str, **extra: str) -> Iterator[Container]:
    """The image's own CMD in a detached container, until the block ends (then removed)."""
    name = f"{image.project.slug}-{uuid.uuid4().hex[:8]}"
    port = free_port()
    daemon.docker(
        "run", "--detach", f"--name={name}", "--network=host", *settings(database, port, **extra),
        # The image's HEALTHCHECK, probed every second instead of every 30 s.
        "--health-interval=1s", "--health-start-period=30s",
        image.tag,
    )  # fmt: skip
    container = Container(name, f"http://127.0.0.1:{port}")
    try:
        wait_until_up(daemon, container)
        yield container
    finally:
        daemon.docker("rm", "--force", name, check=False)


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    details: list[dict[str, Any]] = json.loads(daemon.docker("inspect", name).stdout)
    return details[0]


def logs(daemon: Daemon, name: str) -> str:
    result = daemon.docker("logs", "--tail=60", name, check=False)
    return result.stdout + result.stderr


def wait_until_up(daemon: Daemon, container: Container, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = inspect(daemon, container.name)["State"]
        if not state["Running"]:
            output = logs(daemon, container.name)
            pytest.fail(f"the container exited with {state['ExitCode']}:\n{output}")
        try:
            if httpx.get(f"{container.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"the container did not answer within {timeout} s:\n{logs(daemon, container.name)}")


@pytest.fixture(scope="module")
def container(daemon: Daemon, image: Image, database: str) -> Iterator[Container]:
    """Migrated by one container, served by another: as compose.yaml and k8s/ run it."""
    migrate(daemon, image, database)
    with serving(daemon, image, database) as running:
        yield running


@pytest.fixture(scope="module")
def base_url(container: Container) -> str:
    """The contract's rows reach the container."""
    return container.url


# --- The daemon ---------------------------------------------------------------------------


def test_the_daemon_is_private(daemon: Daemon) -> None:
    info = json.loads(daemon.docker("info", "--format={{json .}}").stdout)
    assert Path(info["DockerRootDir"]).is_relative_to(daemon.root)
    assert info["Driver"] == "overlay2"
    assert daemon.host.startswith(f"unix://{daemon.root}/")


@pytest.mark.parametrize("ci", [True, False])
def test_without_docker_ci_fails_and_elsewhere_skips(
    monkeypatch: pytest.MonkeyPatch, ci: bool
) -> None:
    monkeypatch.setattr(docker_daemon, "DOCKERD", "/nonexistent/dockerd")
    monkeypatch.setattr(sys.modules[__name__], "IN_CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    reason = "CI=true requires Docker" if ci else "Docker can't start here"
    with pytest.raises(outcome, match=reason) as raised:
        start_daemon()
    assert "not installed: /nonexistent/dockerd" in str(raised.value)


def test_cleanup_stops_and_unmounts_what_a_killed_session_left() -> None:
    """.ci/run's exit trap: a session killed with its daemon running leaves nothing behind."""
    if docker_daemon.unavailable_reason():
        start_daemon()  # fails under CI=true, skips elsewhere, with the reason
    # Not tmp_path: the daemon's socket paths must stay under 108 bytes.
    tmp_path = Path(tempfile.mkdtemp(prefix="pyapi-ci-"))
    session = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from tests import docker_daemon; docker_daemon.start(); "
         "print('up', flush=True); time.sleep(600)"],
        cwd=Path(__file__).parents[1], env=os.environ | {"PYAPI_DOCKER_TMP": str(tmp_path)},
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert session.stdout is not None
    assert session.stdout.readline() == "up\n"
    session.kill()
    session.wait(timeout=10)
    [root] = tmp_path.glob("pyapi-docker-*")
    left = [pid for pid in docker_daemon._pids() if str(root) in docker_daemon._cmdline(pid)]
    assert len(left) == 2, "dockerd and containerd should outlive the killed session"
    cleanup = subprocess.run(
        [sys.executable, "tests/docker_daemon.py", "cleanup", str(tmp_path)],
        cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert cleanup.returncode == 0, cleanup.stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in left)
    assert docker_daemon._mounts_under(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
    tmp_path.rmdir()


# --- The image ----------------------------------------------------------------------------


def test_image_is_under_300_mb(
    daemon: Daemon, image: Image, request: pytest.FixtureRequest
) -> None:
    size = inspect(daemon, image.tag)["Size"]
    measured = request.node.user_properties  # shown in --junit-xml reports
    measured.append(("image_megabytes", round(size / 1e6)))
    measured.append(("build_seconds", round(image.build_seconds, 1)))
    assert size < MAX_IMAGE_BYTES, f"{image.tag} is {size / 1e6:.0f} MB"


def image_files(daemon: Daemon, image: Image) -> list[str]:
    """Every path in the image's file system, as `docker export` sees it."""
    created = daemon.docker("create", image.tag).stdout.strip()
    try:
        export = subprocess.Popen(
            [DOCKER_CLI, "export", created], env=daemon.env(), stdout=subprocess.PIPE
        )
        assert export.stdout is not None
        with tarfile.open(fileobj=export.stdout, mode="r|") as tar:
            names = ["/" + member.name.removeprefix("./").lstrip("/") for member in tar]
        assert export.wait(timeout=120) == 0
    finally:
        daemon.docker("rm", created, check=False)
    return names


def test_image_holds_no_secrets_tests_vcs_or_dev_tools(daemon: Daemon, image: Image) -> None:
    files = image_files(daemon, image)
    assert {"/app/alembic.ini", "/app/migrations/env.py", "/etc/passwd"} <= set(files)
    assert "/app/.venv/bin/python" in files or "/app/.venv/bin/python3" in files
    site_packages = {
        path.rsplit("/", 1)[0] for path in files if re.search(r"/site-packages/[^/]+$", path)
    }
    assert len(site_packages) == 1, site_packages
    [packages] = site_packages
    assert f"{packages}/{image.project.package}/__init__.py" in files, "project not installed"
    leaks = [
        path for path in files
        if (name := path.rsplit("/", 1)[-1]) in {".env", ".git"} or name.startswith(".env.")
        or path.startswith(("/app/tests/", "/app/src/", f"{packages}/tests/"))
        or path.startswith(tuple(f"{packages}/{tool}/" for tool in DEV_TOOLS))
        or path in {f"/app/.venv/bin/{tool}" for tool in DEV_TOOLS}
    ]  # fmt: skip
    assert leaks == [], leaks


# --- The running service ------------------------------------------------------------------


def test_runs_as_a_non_root_numeric_user(
    daemon: Daemon, image: Image, container: Container
) -> None:
    user = inspect(daemon, image.tag)["Config"]["User"]
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), f"USER {user!r} is not a numeric non-root uid"
    top = daemon.docker("top", container.name, "-o", "uid,pid,args").stdout.splitlines()[1:]
    uids = {line.split()[0] for line in top}
    assert uids == {user.split(":")[0]}, top
    # As the kernel sees it, from the host.
    pid = inspect(daemon, container.name)["State"]["Pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    uids_seen = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.M)
    assert uids_seen, status
    assert uids_seen[1] == uids_seen[2] == user.split(":")[0]  # real and effective


def test_healthcheck_becomes_healthy(daemon: Daemon, container: Container) -> None:
    deadline = time.monotonic() + 60
    while (health := inspect(daemon, container.name)["State"]["Health"])["Status"] != "healthy":
        assert health["Status"] != "unhealthy", health["Log"]
        assert time.monotonic() < deadline, health
        time.sleep(0.5)
    assert health["Log"][-1]["ExitCode"] == 0


def test_docker_stop_under_load_loses_no_acknowledged_write(
    daemon: Daemon,
    image: Image,
    database: str,
    container: Container,
    request: pytest.FixtureRequest,
) -> None:
    """`docker stop` (SIGTERM, then SIGKILL after --time) while requests are in flight."""
    with serving(daemon, image, database, GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT)) as stopping:
        with httpx.Client(base_url=stopping.url, timeout=10) as http:
            email = test_contract.register(http).json()["email"]
            token = test_contract.login(http, email).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def load() -> tuple[list[httpx.Response | BaseException], float]:
            async with httpx.AsyncClient(base_url=stopping.url, timeout=30) as client:

                async def create(n: int) -> httpx.Response:
                    await asyncio.sleep(n * 0.01)
                    return await client.post("/api/v1/tasks", json={"title": f"t{n}"}, headers=auth)

                tasks = [asyncio.create_task(create(n)) for n in range(100)]
                await asyncio.sleep(0.5)
                started = time.monotonic()
                await asyncio.to_thread(
                    daemon.docker, "stop", f"--time={GRACEFUL_TIMEOUT + 10}", stopping.name
                )
                stop_seconds = time.monotonic() - started
                return await asyncio.gather(*tasks, return_exceptions=True), stop_seconds

        results, stop_seconds = asyncio.run(load())
        state = inspect(daemon, stopping.name)["State"]
        assert state["ExitCode"] == 0, logs(daemon, stopping.name)
        assert not state["OOMKilled"]
        request.node.user_properties.append(("stop_seconds", round(stop_seconds, 2)))
        assert stop_seconds < GRACEFUL_TIMEOUT, f"docker stop took {stop_seconds:.1f} s"
    acknowledged = {
        r.json()["id"] for r in results if isinstance(r, httpx.Response) and r.status_code == 201
    }
    assert acknowledged, "no request completed before the stop"
    with psycopg.connect(database) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM tasks")}
    assert acknowledged <= stored


# --- The generated CI -----------------------------------------------------------------------


def test_generated_ci_image_job_passes_here(
    daemon: Daemon, image: Image, database: str, tmp_path: Path
) -> None:
    """The `run` steps of the generated workflow's image job, run here as Actions runs them
    (bash -eo pipefail), with this daemon, the stand-in base image and a fresh database."""
    workflow = yaml.safe_load((image.project.path / ".github/workflows/ci.yml").read_text())
    [job] = [job for job in workflow["jobs"].values() if "make docker-build" in json.dumps(job)]
    assert any("postgres" in str(s.get("image")) for s in job.get("services", {}).values())
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "docker").symlink_to(DOCKER_CLI)  # the CLI with BuildKit, first on PATH
    base = daemon.env(clean_env())
    env = (
        base
        | {key: str(value) for key, value in job.get("env", {}).items()}
        | {
            "DATABASE_URL": database,
            "PORT": str(free_port()),
            "METRICS_PORT": str(free_port()),
            "PATH": f"{shim}{os.pathsep}{base['PATH']}",
            "DOCKER_BUILD_FLAGS": image.build_flags,
        }
    )
    steps = [step["run"] for step in job["steps"] if "run" in step]
    assert len(steps) >= 3, steps
    try:
        for script in steps:
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=image.project.path, env=env, capture_output=True, text=True, timeout=300,
                check=False,
            )  # fmt: skip
            output = result.stdout[-3000:] + result.stderr[-3000:]
            assert result.returncode == 0, f"{script}\n{output}"
    finally:
        for name in daemon.docker("ps", "--all", "--quiet", "--filter=name=^api$").stdout.split():
            daemon.docker("rm", "--force", name, check=False)

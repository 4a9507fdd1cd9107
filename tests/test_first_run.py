"""A newcomer's first hour with a generated service, run for real in each variant.

The commands the READMEs give: `migrate` against a database that isn't there, `serve` on one
that was never migrated, `dev` and `serve` on a port another program holds.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from .conftest import (
    Project,
    Server,
    create_database,
    drop_database,
    free_port,
    serve,
    service_env,
    to_url,
)

pytestmark = pytest.mark.slow


def command(project: Project) -> str:
    return str(project.path / ".venv" / "bin" / project.slug)


@pytest.fixture
def missing_database(postgres_server: str) -> Iterator[tuple[str, str]]:
    """The name and URL of a database the server does not have (dropped again if created)."""
    name = f"tmpl_missing_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    url = to_url(psycopg.conninfo.make_conninfo(postgres_server, dbname=name))
    yield name, url
    drop_database(postgres_server, name)


def test_migrate_names_a_missing_database_in_one_sentence(
    baked: Project, missing_database: tuple[str, str]
) -> None:
    name, url = missing_database
    env = service_env(url, free_port())
    result = baked.run(command(baked), "migrate", env=env, timeout=120)
    assert result.returncode != 0
    said = (result.stdout + result.stderr).strip()
    assert said.count("\n") == 0, said
    assert f'The database "{name}" does not exist' in said
    assert f"`{baked.slug} migrate --create-database`" in said

    created = baked.run(command(baked), "migrate", "--create-database", env=env, timeout=120)
    assert created.returncode == 0, created.stderr
    assert "Created the database" in created.stdout
    again = baked.run(command(baked), "migrate", "--create-database", env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "Created the database" not in again.stdout


def test_serve_on_a_never_migrated_database_is_not_ready_and_says_so(
    baked: Project, postgres_server: str
) -> None:
    name, url = create_database(postgres_server)
    try:
        with serve(baked, url, migrate=False) as service:
            ready = httpx.get(f"{service.url}/health/ready", timeout=10)
            assert ready.status_code == 503
            assert ready.headers["content-type"] == "application/problem+json"
            assert f"run `{baked.slug} migrate`" in ready.json()["detail"]
            log = service.output()
            assert f"run `{baked.slug} migrate`" in log, log
            assert f"Serving on {service.url} - API docs at {service.url}/docs" in log, log
        with serve(baked, url, migrate=True) as service:
            assert httpx.get(f"{service.url}/health/ready", timeout=10).status_code == 200
            assert "Database schema is at the newest migration" in service.output()
    finally:
        drop_database(postgres_server, name)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 another program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.mark.parametrize("subcommand", ["serve", "dev"])
def test_a_taken_port_is_one_sentence(
    baked: Project, taken_port: int, subcommand: str, tmp_path: Path
) -> None:
    env = service_env(f"sqlite:///{tmp_path / 'app.db'}", taken_port)
    result = baked.run(command(baked), subcommand, env=env, timeout=60)
    assert result.returncode != 0
    said = (result.stdout + result.stderr).strip()
    assert said == (
        f"Port {taken_port} on 127.0.0.1 is already in use by another program: stop it, "
        f"or choose another port (e.g. PORT={taken_port + 1})."
    )


def test_dev_says_where_it_listens_and_where_the_docs_are(baked: Project, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(f"sqlite:///{tmp_path / 'app.db'}", port, ENVIRONMENT="development")
    # Its own process group: dev's reloader starts a child that must stop with it.
    server = Server([command(baked), "dev"], baked.path, env, tmp_path / "dev.log", port)
    with server.running():
        url = server.url
        said = server.output()
        assert re.search(rf"Serving on {url} - API docs at {url}/docs", said), said
        docs = httpx.get(f"{url}/docs", timeout=10)
        assert docs.status_code == 200

"""Fixtures: bake the template once per answer set and share the baked projects between tests.

The work itself (baking, syncing, databases, servers) is in tests/harness.py, which the
benchmark shares; its names are re-exported here for the test modules.

PostgreSQL: tests marked `postgres` use TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test). When CI=true they fail if it can't be reached;
elsewhere they are skipped with the reason shown.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import (
    CHOICES,
    FRAMEWORKS,
    IN_CI,
    LICENSES,
    POSTGRES_URL,
    SECRET_KEY,
    TEMPLATE,
    Project,
    Server,
    bake,
    clean_env,
    create_database,
    drop_database,
    free_port,
    postgres_unreachable,
    run,
    serve,
    service_env,
    synced,
    to_url,
)

Service = Server  # what the test modules call a generated service running as a process

__all__ = [
    "CHOICES", "FRAMEWORKS", "IN_CI", "LICENSES", "POSTGRES_URL", "SECRET_KEY", "TEMPLATE",
    "Project", "Service", "bake", "clean_env", "create_database", "drop_database", "free_port",
    "run", "serve", "service_env", "synced", "to_url",
]  # fmt: skip


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


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = postgres_unreachable(POSTGRES_URL)
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name, url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, name)

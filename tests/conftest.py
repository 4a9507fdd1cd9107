"""Fixtures: bake the template once per answer set and share the baked projects between tests.

The work itself (baking, syncing, databases, servers) is in tests/harness.py, which the
benchmark shares; its names are re-exported here for the test modules.

PostgreSQL: tests marked `postgres` use TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test). When CI=true they fail if it can't be reached;
elsewhere they are skipped with the reason shown.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

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
    load_project,
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


def shared_bake(root: Path, framework: str) -> Project:
    """The default bake of `framework` under `root`, made and synced by the first worker to ask.

    The others wait on the lock and reuse it: the project's tests only read its files and
    run its commands, and the servers they start write their logs beside it.
    """
    output = root / f"bake-{framework}"
    output.mkdir(exist_ok=True)
    with (root / f"bake-{framework}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = output / "synced"
        if done.is_file():
            return load_project(Path(done.read_text()), framework)
        project = synced(bake(output, framework=framework))
        done.write_text(str(project.path))
        return project


@pytest.fixture(scope="session")
def default_bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Project]:
    """Each framework baked once with the default answers, on first use, for every worker."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' basetemps share this folder, one per pytest run

    class Bakes(dict[str, Project]):
        def __missing__(self, framework: str) -> Project:
            project = self[framework] = shared_bake(root, framework)
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


# --- how pytest-xdist shares the tests out ------------------------------------------------

# Every module-scoped fixture of these is per parameter (framework, database, answer set):
# their tests may run on as many workers as they have parameters, each doing its share once.
SPLIT_BY_PARAMETER = {
    "test_attacks", "test_bake", "test_browser", "test_contract", "test_deploy",
    "test_example_feature", "test_first_run", "test_hardening", "test_newcomer",
    "test_shutdown", "test_telemetry",
}  # fmt: skip
SPLIT_BY_TEST = {"test_hooks", "test_hook_properties"}  # independent tests, no shared fixture
DATABASES = {"sqlite", "postgresql"}  # test_contract's database_url parameter
# The longest first, so no long one starts last (test_docker's daemon and images: one group).
SLOWEST_FIRST = [
    "test_docker", "test_example_feature", "test_bake", "test_contract", "test_bench",
    "test_attacks", "test_telemetry", "test_hooks", "test_hardening", "test_hook_properties",
    "test_openapi_parity", "test_deploy",
]  # fmt: skip


def group_of(nodeid: str) -> str:
    """The tests that must run on one worker, in order: they share module fixtures."""
    module = Path(nodeid.split("::", 1)[0]).stem
    if module in SPLIT_BY_TEST:
        return nodeid
    ids = nodeid.partition("[")[2].rpartition("]")[0]
    if module not in SPLIT_BY_PARAMETER or not ids:
        return module
    if module == "test_bake":
        return f"{module}::{ids}"  # the answer set's id
    parts = ids.split("-")
    keys = [
        next((p for p in parts if p in FRAMEWORKS), ""),
        next((p for p in parts if p in DATABASES), ""),
    ]
    return "::".join([module, *filter(None, keys)])


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Hand whole groups (`group_of`) to the workers, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)  # type: ignore[arg-type]


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest modules first: xdist hands the groups out in this order."""
    rank = {module: number for number, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))

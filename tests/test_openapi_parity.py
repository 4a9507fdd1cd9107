"""One API, one client: both variants publish the same OpenAPI document.

Each variant runs as a real server (`<slug> migrate`, `<slug> serve`, SQLite). Their
`/openapi.json` documents must be equal, valid, and clean for a real linter (redocly); a
client generated from one document by openapi-python-client must pass one unchanged scenario
against the other variant's server.

What a framework can't avoid and the equality test therefore removes: nothing. Everything that
differed (operation ids, component names, enums, nullability, titles, path parameters, response
descriptions, tags) is now produced alike by each framework's own machinery, so the exclusion
list below is empty; a new entry must say, line by line, why a framework can't avoid it.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from .conftest import FRAMEWORKS, IN_CI, TEMPLATE, Project, Service, serve

PASSWORD = "correct horse battery staple"
# Where .ci/run installs the pinned @redocly/cli (npm, local to the checkout).
REDOCLY = TEMPLATE / ".tools" / "npm" / "node_modules" / ".bin" / "redocly"

# (JSON pointer, why a framework can't avoid the difference): none.
UNAVOIDABLE: list[tuple[str, str]] = []


@pytest.fixture(scope="module")
def services(
    default_bakes: dict[str, Project], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Service]]:
    """Every variant served at once, each on its own SQLite database."""
    with contextlib.ExitStack() as stack:
        running = {}
        for framework in FRAMEWORKS:
            database = tmp_path_factory.mktemp(f"parity-{framework}") / "app.db"
            running[framework] = stack.enter_context(
                serve(default_bakes[framework], f"sqlite:///{database}")
            )
        yield running


@pytest.fixture(scope="module")
def documents(services: dict[str, Service]) -> dict[str, dict[str, Any]]:
    found = {}
    for framework, service in services.items():
        response = httpx.get(f"{service.url}/openapi.json", timeout=10)
        assert response.status_code == 200, response.text
        found[framework] = response.json()
    return found


def without_unavoidable(document: dict[str, Any]) -> dict[str, Any]:
    """The document less what UNAVOIDABLE lists (JSON pointers), for the comparison."""
    document = json.loads(json.dumps(document))
    for pointer, _why in UNAVOIDABLE:
        parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]
        *parents, last = parts
        node = document
        for part in parents:
            node = node[part]
        node.pop(last, None)
    return document


def test_both_variants_publish_the_same_document(documents: dict[str, dict[str, Any]]) -> None:
    first, *others = FRAMEWORKS
    expected = without_unavoidable(documents[first])
    for other in others:
        actual = without_unavoidable(documents[other])
        if actual != expected:
            diff = difflib.unified_diff(
                json.dumps(expected, indent=1, sort_keys=True).splitlines(),
                json.dumps(actual, indent=1, sort_keys=True).splitlines(),
                first,
                other,
                lineterm="",
            )
            pytest.fail(f"{other}'s document differs from {first}'s:\n" + "\n".join(diff))


def test_operations_and_components_have_the_chosen_names(
    documents: dict[str, dict[str, Any]],
) -> None:
    for framework, document in documents.items():
        operation_ids = {
            operation["operationId"]
            for operations in document["paths"].values()
            for operation in operations.values()
        }
        assert operation_ids == {
            "register",
            "login",
            "read_current_user",
            "create_task",
            "list_tasks",
            "read_task",
            "update_task",
            "delete_task",
            "health",
            "ready",
        }, framework
        assert set(document["components"]["schemas"]) == {
            "FieldError",
            "Health",
            "LoginForm",
            "Priority",
            "Problem",
            "Readiness",
            "TaskCreate",
            "TaskPage",
            "TaskRead",
            "TaskUpdate",
            "Token",
            "UserCreate",
            "UserRead",
        }, framework


def test_documents_are_valid_openapi(documents: dict[str, dict[str, Any]]) -> None:
    for document in documents.values():
        validate(document)


def redocly() -> str:
    if REDOCLY.exists():
        return str(REDOCLY)
    found = shutil.which("redocly")
    if found:
        return found
    reason = f"@redocly/cli is not installed at {REDOCLY}: .ci/run installs it with npm"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def test_documents_pass_redocly_lint(documents: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    """No errors under redocly's recommended rules; its warnings are reported, not hidden."""
    command = redocly()
    for framework, document in documents.items():
        path = tmp_path / f"{framework}.json"
        path.write_text(json.dumps(document))
        result = subprocess.run(
            [command, "lint", "--format", "json", str(path)],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip
        report = json.loads(result.stdout[result.stdout.index("{") :])
        problems = report["problems"]
        errors = [problem for problem in problems if problem["severity"] == "error"]
        assert not errors, json.dumps(errors, indent=1)
        assert report["totals"]["errors"] == 0, result.stdout
        for problem in problems:
            warnings.warn(
                f"redocly lint, {framework}: {problem['ruleId']}: {problem['message']}",
                stacklevel=1,
            )


# One client scenario, run with a client generated from each document against the other server.


@pytest.fixture(scope="module")
def clients(
    documents: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ModuleType]:
    """A Python client package generated by openapi-python-client from each document."""
    root = tmp_path_factory.mktemp("clients")
    tools = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = {}
    for framework, document in documents.items():
        package = f"client_from_{framework}"
        (root / f"{framework}.json").write_text(json.dumps(document))
        (root / f"{framework}.yaml").write_text(f"package_name_override: {package}\n")
        result = subprocess.run(
            [
                str(tools / "openapi-python-client"), "generate",
                "--path", str(root / f"{framework}.json"),
                "--output-path", str(root / package),
                "--meta", "none",
                "--config", str(root / f"{framework}.yaml"),
            ],
            capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Warning" not in result.stdout, result.stdout
        generated[framework] = package
    sys.path.insert(0, str(root))
    try:
        return {framework: importlib.import_module(name) for framework, name in generated.items()}
    finally:
        sys.path.remove(str(root))


CROSSINGS = [(doc, server) for doc in FRAMEWORKS for server in FRAMEWORKS if doc != server]


@pytest.mark.parametrize(("document_of", "server_of"), CROSSINGS)
def test_a_client_generated_from_one_variant_works_against_the_other(
    clients: dict[str, ModuleType],
    services: dict[str, Service],
    document_of: str,
    server_of: str,
) -> None:
    client_scenario(clients[document_of], services[server_of].url)


def client_scenario(package: ModuleType, base_url: str) -> None:
    """Register, log in with the password form, create, list with filters, read, update,
    delete, and each documented error (401, 404, 409, 422), through the generated client only.
    """

    def api(tag: str, operation: str) -> Any:
        return importlib.import_module(f"{package.__name__}.api.{tag}.{operation}")

    models = importlib.import_module(f"{package.__name__}.models")
    anonymous = package.Client(base_url=base_url, raise_on_unexpected_status=True)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    new_user = models.UserCreate(email=email.upper(), password=PASSWORD, full_name="Ada")

    registered = api("auth", "register").sync_detailed(client=anonymous, body=new_user)
    assert registered.status_code == 201, registered.content
    assert isinstance(registered.parsed, models.UserRead)
    assert registered.parsed.email == email

    taken = api("auth", "register").sync_detailed(client=anonymous, body=new_user)
    assert taken.status_code == 409, taken.content
    assert isinstance(taken.parsed, models.Problem)
    assert (taken.parsed.status, taken.parsed.title) == (409, "Conflict")

    login = api("auth", "login")
    wrong = login.sync_detailed(
        client=anonymous, body=models.LoginForm(username=email, password="not the password")
    )
    assert wrong.status_code == 401, wrong.content
    assert isinstance(wrong.parsed, models.Problem)
    token = login.sync_detailed(
        client=anonymous, body=models.LoginForm(username=email, password=PASSWORD)
    )
    assert token.status_code == 200, token.content
    assert isinstance(token.parsed, models.Token)
    assert token.parsed.token_type == "bearer"
    assert token.parsed.expires_in > 0

    me_api = api("users", "read_current_user")
    forged = package.AuthenticatedClient(base_url=base_url, token="not-a-token")
    refused = me_api.sync_detailed(client=forged)
    assert refused.status_code == 401, refused.content
    assert isinstance(refused.parsed, models.Problem)
    client = package.AuthenticatedClient(
        base_url=base_url, token=token.parsed.access_token, raise_on_unexpected_status=True
    )
    me = me_api.sync_detailed(client=client)
    assert me.status_code == 200, me.content
    assert me.parsed.id == registered.parsed.id

    create = api("tasks", "create_task")
    invalid = create.sync_detailed(client=client, body=models.TaskCreate(title="   "))
    assert invalid.status_code == 422, invalid.content
    assert isinstance(invalid.parsed, models.Problem)
    [error] = invalid.parsed.errors
    assert (error.loc, error.type_) == (["body", "title"], "string_too_short")
    assert error.msg == "String should have at least 1 character"

    urgent = create.sync_detailed(
        client=client,
        body=models.TaskCreate(title="  Write the report ", priority=models.Priority.HIGH),
    )
    assert urgent.status_code == 201, urgent.content
    task = urgent.parsed
    assert isinstance(task, models.TaskRead)
    assert (task.title, task.priority) == ("Write the report", models.Priority.HIGH)
    assert task.done is False
    assert task.created_at.tzinfo is not None
    assert urgent.headers["Location"].endswith(f"/api/v1/tasks/{task.id}")
    later = create.sync_detailed(client=client, body=models.TaskCreate(title="Later", done=True))
    assert later.status_code == 201, later.content
    assert later.parsed.priority == models.Priority.NORMAL

    list_tasks = api("tasks", "list_tasks")
    page = list_tasks.sync_detailed(
        client=client, done=False, priority=models.Priority.HIGH, limit=10
    )
    assert page.status_code == 200, page.content
    assert isinstance(page.parsed, models.TaskPage)
    assert (page.parsed.total, page.parsed.limit, page.parsed.offset) == (1, 10, 0)
    assert [item.id for item in page.parsed.items] == [task.id]
    everything = list_tasks.sync_detailed(client=client)
    assert [item.id for item in everything.parsed.items] == [task.id, later.parsed.id]
    out_of_range = list_tasks.sync_detailed(client=client, limit=0)
    assert out_of_range.status_code == 422, out_of_range.content
    assert out_of_range.parsed.errors[0].type_ == "greater_than_equal"

    read = api("tasks", "read_task").sync_detailed(task.id, client=client)
    assert read.status_code == 200, read.content
    assert read.parsed == task

    updated = api("tasks", "update_task").sync_detailed(
        task.id, client=client, body=models.TaskUpdate(done=True, description="Due Friday")
    )
    assert updated.status_code == 200, updated.content
    assert (updated.parsed.done, updated.parsed.description) == (True, "Due Friday")
    assert updated.parsed.title == "Write the report"
    assert isinstance(updated.parsed.updated_at, datetime)
    assert updated.parsed.updated_at >= task.updated_at

    deleted = api("tasks", "delete_task").sync_detailed(task.id, client=client)
    assert deleted.status_code == 204, deleted.content
    for missing in (task.id, 2**40):
        gone = api("tasks", "read_task").sync_detailed(missing, client=client)
        assert gone.status_code == 404, gone.content
        assert isinstance(gone.parsed, models.Problem)
        assert (gone.parsed.status, gone.parsed.title) == (404, "Not Found")

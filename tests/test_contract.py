"""The HTTP contract (docs/contract.md), row by row, against a real server process.

Framework-agnostic on purpose: the service is started the way production starts it
(`<slug> migrate`, then `<slug> serve`) on 127.0.0.1 and spoken to over real HTTP, so the
same module runs unchanged against every framework the template offers.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from .conftest import TEMPLATE, Project, create_database, drop_database, serve

CONTRACT = TEMPLATE / "docs" / "contract.md"
PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery staple"
FOR_HUMANS = {"/openapi.json", "/docs", "/redoc"}  # served, not described in the document


def contract_routes() -> dict[str, set[str]]:
    """Each path of the contract's tables (prefixes applied) and its methods, lower-case."""
    routes: dict[str, set[str]] = {}
    prefix = ""
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            found = re.search(r"prefix (/[^\s,]+)", line)
            prefix = found[1] if found else ""
        elif row := re.match(r"\| (GET|POST|PUT|PATCH|DELETE) (/[^ ?|]*)", line):
            path = (prefix + row[2]).replace("{id}", "{task_id}")
            path = path.rstrip("/") if len(path) > 1 else path
            routes.setdefault(path, set()).add(row[1].lower())
    return routes


def test_the_contract_page_lists_the_routes_tested_here() -> None:
    assert contract_routes() == {
        "/health": {"get"},
        "/health/ready": {"get"},
        "/openapi.json": {"get"},
        "/docs": {"get"},
        "/redoc": {"get"},
        "/api/v1/auth/register": {"post"},
        "/api/v1/auth/token": {"post"},
        "/api/v1/users/me": {"get"},
        "/api/v1/tasks": {"get", "post"},
        "/api/v1/tasks/{task_id}": {"get", "patch", "delete"},
    }


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('contract') / 'app.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    name, url = create_database(server)
    yield url
    drop_database(server, name)


@pytest.fixture(scope="module")
def base_url(baked: Project, database_url: str) -> Iterator[str]:
    """The baked service, migrated and served by its own production commands."""
    with serve(baked, database_url) as service:
        yield service.url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def register(http: httpx.Client, email: str | None = None, **fields: Any) -> httpx.Response:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    return http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD} | fields)


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/token", data={"username": email, "password": password})


@pytest.fixture
def auth(http: httpx.Client) -> dict[str, str]:
    """Authorization header of a freshly registered user."""
    email = register(http).json()["email"]
    token = login(http, email).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


# Service endpoints


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready(http: httpx.Client) -> None:
    response = http.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_openapi_is_valid_and_documents_every_route(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    validate(document)
    paths = document["paths"]
    expected = {path: ms for path, ms in contract_routes().items() if path not in FOR_HUMANS}
    for path, methods in expected.items():
        assert path in paths, f"{path} is not documented"
        assert methods <= set(paths[path]), f"{path} lacks {methods - set(paths[path])}"
    schemes = document["components"]["securitySchemes"].values()
    assert any(s.get("type") == "oauth2" or s.get("scheme") == "bearer" for s in schemes)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_work_offline(http: httpx.Client, path: str) -> None:
    page = http.get(path)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    scripts = [src for src in _script_sources(page.text) if src]
    assert scripts, "the page loads no script"
    for src in scripts:
        assert not src.startswith(("http://", "https://", "//")), f"{src} needs the internet"
        asset = http.get(src)
        assert asset.status_code == 200, src
        assert len(asset.content) > 10_000, src


def _script_sources(html: str) -> list[str]:
    return re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)


# Auth


def test_register_stores_email_lower_cased(http: httpx.Client) -> None:
    email = f"Mixed-{uuid.uuid4().hex[:8]}@Example.COM"
    response = register(http, email, full_name="Ada Lovelace")
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "email", "full_name", "is_active", "created_at"}
    assert user["email"] == email.lower()
    assert user["full_name"] == "Ada Lovelace"
    assert user["is_active"] is True
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None


def test_register_duplicate_email_any_case_is_409(http: httpx.Client) -> None:
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    assert register(http, email).status_code == 201
    assert_problem(register(http, email.upper()), 409)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"full_name": "x" * 256}, "full_name"),
    ],
)
def test_register_invalid_is_422_per_field(
    http: httpx.Client, fields: dict[str, Any], field: str
) -> None:
    body = assert_problem(register(http, **fields), 422)
    assert [error["loc"][-1] for error in body["errors"]] == [field]
    assert all({"loc", "msg", "type"} <= set(error) for error in body["errors"])


def test_token_and_me(http: httpx.Client) -> None:
    email = register(http).json()["email"]
    response = login(http, email.upper())
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer"
    assert isinstance(token["expires_in"], int)
    assert token["expires_in"] > 0
    me = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert "password" not in me.text
    assert "hash" not in me.text


def test_bad_credentials_get_the_same_401(http: httpx.Client) -> None:
    email = register(http).json()["email"]
    wrong = login(http, email, "wrong password!")
    unknown = login(http, f"nobody-{uuid.uuid4().hex[:8]}@example.com")
    for response in (wrong, unknown):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == unknown.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}],
)
def test_me_without_a_valid_token_is_401(http: httpx.Client, headers: dict[str, str]) -> None:
    assert_problem(http.get("/api/v1/users/me", headers=headers), 401)


def test_tampered_token_is_401(http: httpx.Client, auth: dict[str, str]) -> None:
    token = auth["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    assert_problem(
        http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {tampered}"}), 401
    )


# Tasks


def create_task(http: httpx.Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = http.post(
        "/api/v1/tasks", json={"title": "Write the contract"} | fields, headers=auth
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def test_create_task(http: httpx.Client, auth: dict[str, str]) -> None:
    response = http.post("/api/v1/tasks", json={"title": "  Ship it  "}, headers=auth)
    assert response.status_code == 201
    task = response.json()
    assert set(task) == {
        "id", "title", "description", "priority", "done", "owner_id", "created_at", "updated_at"
    }  # fmt: skip
    assert task["title"] == "Ship it"
    assert (task["description"], task["priority"], task["done"]) == (None, "normal", False)
    assert response.headers["location"].endswith(f"/api/v1/tasks/{task['id']}")
    for stamp in ("created_at", "updated_at"):
        assert datetime.fromisoformat(task[stamp]).utcoffset() is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "done": "perhaps"}, "done"),
    ],
)
def test_create_invalid_task_is_422(
    http: httpx.Client, auth: dict[str, str], body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(http.post("/api/v1/tasks", json=body, headers=auth), 422)
    assert [error["loc"][-1] for error in problem["errors"]] == [field]


def test_tasks_need_a_token(http: httpx.Client) -> None:
    response = http.get("/api/v1/tasks")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_list_filters_orders_and_pages(http: httpx.Client, auth: dict[str, str]) -> None:
    made = [
        create_task(http, auth, title=f"t{n}", priority=priority, done=done)
        for n, (priority, done) in enumerate(
            [("high", False), ("low", True), ("high", True), ("high", False), ("normal", False)]
        )
    ]
    page = http.get("/api/v1/tasks", params={"limit": 2, "offset": 1}, headers=auth).json()
    assert [t["id"] for t in page["items"]] == [made[1]["id"], made[2]["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    default = http.get("/api/v1/tasks", headers=auth).json()
    assert (default["limit"], default["offset"]) == (20, 0)
    filtered = http.get(
        "/api/v1/tasks", params={"priority": "high", "done": "false"}, headers=auth
    ).json()
    assert [t["id"] for t in filtered["items"]] == [made[0]["id"], made[3]["id"]]
    assert filtered["total"] == 2


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"priority": "x"}, {"done": "x"}]
)
def test_list_rejects_bad_paging_and_filters(
    http: httpx.Client, auth: dict[str, str], params: dict[str, Any]
) -> None:
    assert_problem(http.get("/api/v1/tasks", params=params, headers=auth), 422)


def test_get_patch_delete(http: httpx.Client, auth: dict[str, str]) -> None:
    task = create_task(http, auth, description="first")
    url = f"/api/v1/tasks/{task['id']}"
    assert http.get(url, headers=auth).json() == task
    time.sleep(0.01)
    patched = http.patch(url, json={"done": True, "priority": "high"}, headers=auth)
    assert patched.status_code == 200
    updated = patched.json()
    assert (updated["done"], updated["priority"], updated["description"]) == (True, "high", "first")
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        task["updated_at"]
    )
    assert updated["created_at"] == task["created_at"]
    assert_problem(http.patch(url, json={"title": ""}, headers=auth), 422)
    deleted = http.delete(url, headers=auth)
    assert deleted.status_code == 204
    assert deleted.content == b""
    for method in ("GET", "PATCH", "DELETE"):
        assert_problem(http.request(method, url, json={}, headers=auth), 404)


def test_another_users_task_is_404(http: httpx.Client, auth: dict[str, str]) -> None:
    task = create_task(http, auth)
    email = register(http).json()["email"]
    other = {"Authorization": f"Bearer {login(http, email).json()['access_token']}"}
    url = f"/api/v1/tasks/{task['id']}"
    missing = assert_problem(http.get("/api/v1/tasks/987654321", headers=other), 404)
    foreign = assert_problem(http.get(url, headers=other), 404)
    assert foreign["title"] == missing["title"]
    assert_problem(http.patch(url, json={"done": True}, headers=other), 404)
    assert_problem(http.delete(url, headers=other), 404)
    assert http.get("/api/v1/tasks", headers=other).json()["total"] == 0
    assert http.get(url, headers=auth).json()["done"] is False


# Errors


def test_unknown_path_is_404_problem(http: httpx.Client) -> None:
    assert_problem(http.get("/no/such/path"), 404)


def test_wrong_method_is_405_problem(http: httpx.Client) -> None:
    assert_problem(http.put("/health"), 405)


def test_malformed_json_is_400_or_422_problem(http: httpx.Client, auth: dict[str, str]) -> None:
    response = http.post(
        "/api/v1/tasks",
        content=b'{"title": "unfinished',
        headers=auth | {"Content-Type": "application/json"},
    )
    assert response.status_code in {400, 422}
    assert_problem(response, response.status_code)


def test_body_over_one_mebibyte_is_413_problem(http: httpx.Client, auth: dict[str, str]) -> None:
    body = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    response = http.post(
        "/api/v1/tasks", content=body, headers=auth | {"Content-Type": "application/json"}
    )
    assert_problem(response, 413)


def test_request_id_is_echoed_or_generated(http: httpx.Client) -> None:
    assert http.get("/health", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == (
        "trace-42"
    )
    for response in (http.get("/health"), http.get("/no/such/path")):
        assert response.headers.get("x-request-id")
    first, second = http.get("/health"), http.get("/health")
    assert first.headers["x-request-id"] != second.headers["x-request-id"]

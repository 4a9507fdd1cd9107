import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.dependencies import SessionDep
from {{ cookiecutter.package_name }}.logs import JsonFormatter
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, ClientWith

PROBLEM = "application/problem+json"
# Generic behaviour is shown on registration: it takes JSON and needs no token.
REGISTER = "/api/v1/auth/register"


async def test_unknown_path_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert set(response.json()) >= {"type", "title", "status", "detail"}


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.put("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


async def test_malformed_json_is_a_client_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER, content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code in {400, 422}
    assert response.headers["content-type"] == PROBLEM


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, settings: Settings) -> None:
    body = b'{"email": "' + b"x" * settings.max_body_size + b'"}'
    response = await client.post(
        REGISTER, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_chunked_body_over_the_limit_is_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(settings.max_body_size // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post(
        REGISTER, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) >= 16


async def test_unhandled_error_is_500_without_internals(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "req-500"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert getattr(logged[0], "request_id", None) == "req-500"


async def test_api_answers_503_when_the_database_is_unreachable(
    client_with: ClientWith, unreachable_database_url: str
) -> None:
    async with client_with(database_url=unreachable_database_url) as client:
        response = await client.post(
            REGISTER, json={"email": "a@example.com", "password": "long enough"}
        )
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"]


async def test_a_request_that_fails_midway_writes_nothing(
    app: FastAPI, client: httpx.AsyncClient, password_hash: str
) -> None:
    email = "first.write@example.com"

    @app.post("/two-writes")
    async def two_writes(session: SessionDep) -> None:
        session.add(User(email=email, hashed_password=password_hash))
        await session.flush()
        raise RuntimeError("fault injected after the first write")

    response = await client.post("/two-writes")
    assert response.status_code == 500
    registered = await client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, "the first write was kept"


def test_production_logs_are_json_lines_with_the_request_id() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "served %s", ("x",), None)
    record.request_id = "req-7"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "served x"
    assert line["request_id"] == "req-7"
    assert line["level"] == "INFO"

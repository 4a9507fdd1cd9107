import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from {{ cookiecutter.package_name }} import COMMAND
from {{ cookiecutter.package_name }}.health import log_schema_state
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import ClientWith


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_ready_is_503_when_the_database_is_unreachable(
    client_with: ClientWith, unreachable_database_url: str
) -> None:
    async with client_with(database_url=unreachable_database_url) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503


async def test_ready_is_503_until_the_database_is_migrated(
    client_with: ClientWith, tmp_path: Path
) -> None:
    never_migrated = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    async with client_with(database_url=never_migrated) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert f"run `{COMMAND} migrate`" in response.json()["detail"]


async def test_production_start_says_when_the_schema_is_behind(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    production = settings.model_copy(update={"environment": "production"})
    with caplog.at_level(logging.INFO):
        await log_schema_state(engine, production)
    await engine.dispose()
    [record] = [r for r in caplog.records if r.name.endswith(".health")]
    assert record.levelno == logging.ERROR
    assert f"run `{COMMAND} migrate`" in record.getMessage()


async def test_docs_are_served_without_a_cdn(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "/static-offline-docs/" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        script = await client.get(f"/static-offline-docs/{asset}")
        assert script.status_code == 200
        assert len(script.content) > 100_000
        # The bundled ReDoc names Redocly's CDN for its logo; the app serves it without.
        assert b"cdn.redoc.ly" not in script.content
    favicon = await client.get("/favicon.ico")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/png"


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {
        "/health",
        "/health/ready",
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/users/me",
    }
    assert "OAuth2PasswordBearer" in document["components"]["securitySchemes"]
    assert "Problem" in document["components"]["schemas"]


async def test_operations_are_named_as_in_the_other_variant(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document is not None
    operation_ids = {
        path: {method: operation["operationId"] for method, operation in operations.items()}
        for path, operations in document["paths"].items()
    }
    expected = {
        "/health": {"get": "health"},
        "/health/ready": {"get": "ready"},
        "/api/v1/auth/register": {"post": "register"},
        "/api/v1/auth/token": {"post": "login"},
        "/api/v1/users/me": {"get": "read_current_user"},
    }
    assert {path: operation_ids.get(path) for path in expected} == expected

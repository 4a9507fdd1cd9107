import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from {{ cookiecutter.package_name }} import COMMAND
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.health import log_schema_state
from {{ cookiecutter.package_name }}.settings import Settings


def test_health_is_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_ready_is_503_when_the_database_is_unreachable(unused_port: int) -> None:
    settings = Settings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{unused_port}/unreachable",
    )
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json is not None
    assert response.json["status"] == 503


@pytest.fixture
def never_migrated_app(settings: Settings, tmp_path: Path) -> Flask:
    """An app on an empty database (made in a fixture: create_app sets up logging afresh)."""
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    return create_app(settings.model_copy(update={"database_url": empty}))


def test_ready_is_503_until_the_database_is_migrated(never_migrated_app: Flask) -> None:
    response = never_migrated_app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json is not None
    assert f"run `{COMMAND} migrate`" in response.json["detail"]


def test_serve_says_at_start_when_the_schema_is_behind(
    never_migrated_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        log_schema_state(never_migrated_app)
    [record] = [r for r in caplog.records if r.name.endswith(".health")]
    assert record.levelno == logging.ERROR
    assert f"run `{COMMAND} migrate`" in record.getMessage()


def test_docs_are_served_without_a_cdn(client: FlaskClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "/static-offline-docs/" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        script = client.get(f"/static-offline-docs/{asset}")
        assert script.status_code == 200
        assert len(script.data) > 100_000
        # The bundled ReDoc names Redocly's CDN for its logo; the app serves it without.
        assert b"cdn.redoc.ly" not in script.data
        script.close()
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200
    assert favicon.mimetype == "image/png"
    favicon.close()


def test_openapi_documents_every_route(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document is not None
    validate(document)
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
    me = document["paths"]["/api/v1/users/me"]["get"]
    assert me["security"] == [{"OAuth2PasswordBearer": []}]
    assert "401" in me["responses"]


def test_operations_are_named_as_in_the_other_variant(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
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

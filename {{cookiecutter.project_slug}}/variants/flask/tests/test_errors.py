import io
import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import db
from {{ cookiecutter.package_name }}.logs import JsonFormatter
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, MakeApp

PROBLEM = "application/problem+json"
# Generic behaviour is shown on registration: it takes JSON and needs no token.
REGISTER = "/api/v1/auth/register"


def test_unknown_path_is_404_problem(client: FlaskClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json is not None
    assert set(response.json) >= {"type", "title", "status", "detail"}
    assert response.json["type"] == "about:blank"
    assert response.json["status"] == 404


def test_wrong_method_is_405_problem(client: FlaskClient) -> None:
    response = client.put("/health")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_a_client_error(client: FlaskClient) -> None:
    response = client.post(REGISTER, data=b'{"email": ', content_type="application/json")
    assert response.status_code in {400, 422}
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_json_nested_too_deeply_is_400(client: FlaskClient, depth: int) -> None:
    body = '{"email": ' + "[" * depth + "]" * depth + "}"
    response = client.post(REGISTER, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM


def test_body_over_the_limit_is_413(client: FlaskClient, settings: Settings) -> None:
    body = b'{"email": "' + b"x" * settings.max_body_size + b'"}'
    response = client.post(REGISTER, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def post_chunked(client: FlaskClient, body: bytes) -> TestResponse:
    # No Content-Length: what gunicorn hands the app for a chunked request.
    return client.post(
        REGISTER,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_chunked_body_over_the_limit_is_413(client: FlaskClient, settings: Settings) -> None:
    response = post_chunked(client, b'{"email": "' + b"x" * settings.max_body_size + b'"}')
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_chunked_body_within_the_limit_is_read_whole(client: FlaskClient) -> None:
    body = {"email": "chunked@example.com", "password": PASSWORD}
    response = post_chunked(client, json.dumps(body).encode())
    assert response.status_code == 201
    assert response.json is not None
    assert response.json["email"] == "chunked@example.com"


@pytest.mark.parametrize("sent", ["", "bad id with spaces", "x" * 129])
def test_request_id_is_generated_unless_a_sane_one_is_sent(client: FlaskClient, sent: str) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": sent})
    assert generated.headers["x-request-id"] != sent
    assert len(generated.headers["x-request-id"]) >= 16


def test_errors_carry_the_request_id(client: FlaskClient) -> None:
    response = client.get("/nowhere", headers={"X-Request-ID": "req-404"})
    assert response.headers["x-request-id"] == "req-404"


@pytest.fixture
def app_that_crashes(make_app: MakeApp) -> Flask:
    # Made before the test runs, so that caplog sees what its logging configuration emits.
    app = make_app()

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    return app


def test_unhandled_error_is_500_without_internals(
    app_that_crashes: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = app_that_crashes.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["x-request-id"] == "req-500"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert getattr(logged[0], "request_id", None) == "req-500"
    assert logged[0].exc_info is not None


def test_a_failing_commit_is_a_500_not_a_success(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def commit() -> None:
        raise RuntimeError("the database went away")

    body = {"email": "never.stored@example.com", "password": PASSWORD}
    monkeypatch.setattr(db.session, "commit", commit)
    response = client.post(REGISTER, json=body)
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    monkeypatch.undo()
    assert client.post(REGISTER, json=body).status_code == 201, "the failed write was kept"


def test_api_answers_503_when_the_database_is_unreachable(unused_port: int) -> None:
    settings = Settings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{unused_port}/unreachable",
    )
    client = create_app(settings).test_client()
    body = {"email": "a@example.com", "password": "long enough"}
    response = client.post(REGISTER, json=body)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"]


def test_a_request_that_fails_midway_writes_nothing(
    make_app: MakeApp, client: FlaskClient, password_hash: str
) -> None:
    app = make_app()
    email = "first.write@example.com"

    @app.post("/two-writes")
    def two_writes() -> str:
        db.session.add(User(email=email, hashed_password=password_hash))
        db.session.flush()
        raise RuntimeError("fault injected after the first write")

    assert app.test_client().post("/two-writes").status_code == 500
    registered = client.post(REGISTER, json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, "the first write was kept"


def test_production_logs_are_json_lines_with_the_request_id() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "served %s", ("x",), None)
    record.request_id = "req-7"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "served x"
    assert line["request_id"] == "req-7"
    assert line["level"] == "INFO"

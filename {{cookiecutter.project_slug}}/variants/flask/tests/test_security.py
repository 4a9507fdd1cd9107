import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from {{ cookiecutter.package_name }}.db import db
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, MakeApp


def unsigned_token(claims: dict[str, object]) -> str:
    def encode(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


def claims_for(user: User) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"sub": str(user.id), "iat": now, "exp": now + timedelta(minutes=5)}


def test_token_with_alg_none_is_refused(client: FlaskClient, user: User) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = unsigned_token({"sub": str(user.id), "iat": now, "exp": now + 300})
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_token_signed_with_another_algorithm_is_refused(
    client: FlaskClient, user: User, settings: Settings
) -> None:
    token = jwt.encode(claims_for(user), settings.secret_key, "HS512")
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_token_of_a_deleted_user_is_refused(
    auth_client: FlaskClient, user: User, app: Flask
) -> None:
    with app.app_context():
        db.session.execute(delete(User).where(User.id == user.id))
        db.session.commit()
    assert auth_client.get("/api/v1/users/me").status_code == 401


def test_security_headers_on_every_response(client: FlaskClient) -> None:
    for response in (client.get("/health"), client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers


def test_hsts_when_configured(make_app: MakeApp) -> None:
    response = make_app(hsts_seconds=31536000).test_client().get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_cors_allows_only_configured_origins(make_app: MakeApp) -> None:
    client = make_app(cors_origins=("https://app.example.com",)).test_client()
    allowed = client.get("/health", headers={"Origin": "https://app.example.com"})
    other = client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


def test_wildcard_cors_never_allows_credentials(make_app: MakeApp) -> None:
    client = make_app(cors_origins=("*",)).test_client()
    response = client.get("/health", headers={"Origin": "https://any.example.com"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_login_is_throttled_per_client_and_username(
    client: FlaskClient, settings: Settings, user: User
) -> None:
    # A client address of its own: the app (and its throttle) lives for the whole session.
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    allowed = int(settings.login_rate_limit.split("/")[0])
    form = {"username": user.email, "password": "wrong password"}
    for _ in range(allowed):
        assert client.post("/api/v1/auth/token", data=form).status_code == 401
    throttled = client.post("/api/v1/auth/token", data=form | {"password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert int(throttled.headers["retry-after"]) >= 1
    other_user = {"username": "someone-else@example.com", "password": PASSWORD}
    assert client.post("/api/v1/auth/token", data=other_user).status_code == 401


def test_docs_can_be_switched_off(make_app: MakeApp) -> None:
    client = make_app(docs_enabled=False).test_client()
    for path in ("/docs", "/redoc", "/openapi.json", "/static-offline-docs/redoc.standalone.js"):
        assert client.get(path).status_code == 404


def test_login_logs_no_password_or_token(
    client: FlaskClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
    )
    assert response.json is not None
    token = response.json["access_token"]
    client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/v1/auth/token" in logged
    assert PASSWORD not in logged
    assert token not in logged

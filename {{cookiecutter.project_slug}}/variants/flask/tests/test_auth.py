from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from {{ cookiecutter.package_name }}.db import db
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, MakeUser


def register(client: FlaskClient, **fields: object) -> TestResponse:
    body = {"email": "grace@example.com", "password": PASSWORD} | fields
    return client.post("/api/v1/auth/register", json=body)


def json_of(response: TestResponse) -> Any:
    assert response.json is not None
    return response.json


def test_register_returns_the_user_without_secrets(client: FlaskClient, app: Flask) -> None:
    response = register(client, email="Grace@Example.COM", full_name="Grace Hopper")
    assert response.status_code == 201
    user = json_of(response)
    assert set(user) == {"id", "email", "full_name", "is_active", "created_at"}
    assert user["email"] == "grace@example.com"
    assert user["full_name"] == "Grace Hopper"
    assert user["is_active"] is True
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None
    with app.app_context():
        stored = db.session.scalar(select(User).where(User.id == user["id"]))
        assert stored is not None
        assert stored.hashed_password.startswith("$argon2id$")


def test_register_same_email_any_case_is_409(client: FlaskClient) -> None:
    assert register(client).status_code == 201
    response = register(client, email="GRACE@example.com")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "nul\x00@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"full_name": "nul\x00byte"}, "full_name"),
    ],
)
def test_register_invalid_field_is_422(
    client: FlaskClient, fields: dict[str, object], bad_field: str
) -> None:
    response = register(client, **fields)
    assert response.status_code == 422
    assert [error["loc"] for error in json_of(response)["errors"]] == [["body", bad_field]]


def login(client: FlaskClient, username: str, password: str) -> TestResponse:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_token_for_valid_credentials(client: FlaskClient, settings: Settings) -> None:
    register(client)
    response = login(client, "GRACE@example.com", PASSWORD)
    assert response.status_code == 200
    body = json_of(response)
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_expire_minutes * 60
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert json_of(me)["email"] == "grace@example.com"


def test_unknown_email_and_wrong_password_get_the_same_401(client: FlaskClient) -> None:
    register(client)
    wrong_password = login(client, "grace@example.com", "not the password")
    unknown_email = login(client, "nobody@example.com", PASSWORD)
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong_password.json == unknown_email.json


def test_token_form_fields_are_required(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "grace@example.com"})
    assert response.status_code == 422
    assert [error["loc"] for error in json_of(response)["errors"]] == [["body", "password"]]


def test_inactive_user_cannot_log_in(client: FlaskClient, make_user: MakeUser) -> None:
    make_user("retired@example.com", is_active=False)
    assert login(client, "retired@example.com", PASSWORD).status_code == 401


def test_me_returns_the_current_user(auth_client: FlaskClient, user: User) -> None:
    response = auth_client.get("/api/v1/users/me")
    assert response.status_code == 200
    assert json_of(response)["id"] == user.id


def signed(claims: dict[str, object], key: str, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


@pytest.mark.parametrize(
    "case", ["missing", "not-bearer", "malformed", "expired", "tampered", "no-exp", "no-user"]
)
def test_me_rejects_bad_tokens(
    client: FlaskClient, user: User, settings: Settings, case: str
) -> None:
    key = settings.secret_key
    now = datetime.now(UTC)
    headers = {
        "missing": {},
        "not-bearer": {"Authorization": "Basic Z3JhY2U6aG9wcGVy"},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "expired": signed(
            {"sub": str(user.id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)},
            key,
        ),
        "tampered": signed(
            {"sub": str(user.id), "iat": now, "exp": now + timedelta(hours=1)}, "another-key" * 4
        ),
        "no-exp": signed({"sub": str(user.id), "iat": now}, key),
        "no-user": signed({"sub": "999999", "iat": now, "exp": now + timedelta(hours=1)}, key),
    }[case]
    response = client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_me_rejects_a_deactivated_user(auth_client: FlaskClient, user: User, app: Flask) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()
    assert auth_client.get("/api/v1/users/me").status_code == 401

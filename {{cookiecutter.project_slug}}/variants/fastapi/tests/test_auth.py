from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, MakeUser


async def register(client: httpx.AsyncClient, **fields: object) -> httpx.Response:
    body = {"email": "grace@example.com", "password": PASSWORD} | fields
    return await client.post("/api/v1/auth/register", json=body)


async def test_register_returns_the_user_without_secrets(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await register(client, email="Grace@Example.COM", full_name="Grace Hopper")
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "email", "full_name", "is_active", "created_at"}
    assert user["email"] == "grace@example.com"
    assert user["full_name"] == "Grace Hopper"
    assert user["is_active"] is True
    assert datetime.fromisoformat(user["created_at"]).utcoffset() is not None
    stored = await session.scalar(select(User).where(User.id == user["id"]))
    assert stored is not None
    assert stored.hashed_password.startswith("$argon2id$")


async def test_register_same_email_any_case_is_409(client: httpx.AsyncClient) -> None:
    assert (await register(client)).status_code == 201
    response = await register(client, email="GRACE@example.com")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"full_name": "x" * 256}, "full_name"),
        ({"full_name": "nul\x00byte"}, "full_name"),
    ],
)
async def test_register_invalid_field_is_422(
    client: httpx.AsyncClient, fields: dict[str, object], bad_field: str
) -> None:
    response = await register(client, **fields)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["errors"]] == [bad_field]


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


async def test_token_for_valid_credentials(client: httpx.AsyncClient, settings: Settings) -> None:
    await register(client)
    response = await login(client, "GRACE@example.com", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_expire_minutes * 60
    me = await client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == "grace@example.com"


async def test_unknown_email_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    wrong_password = await login(client, "grace@example.com", "not the password")
    unknown_email = await login(client, "nobody@example.com", PASSWORD)
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong_password.json() == unknown_email.json()


async def test_inactive_user_cannot_log_in(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await make_user("retired@example.com", is_active=False)
    assert (await login(client, "retired@example.com", PASSWORD)).status_code == 401


async def test_me_returns_the_current_user(auth_client: httpx.AsyncClient, user: User) -> None:
    response = await auth_client.get("/api/v1/users/me")
    assert response.status_code == 200
    assert response.json()["id"] == user.id


def signed(claims: dict[str, object], key: str, algorithm: str = "HS256") -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm=algorithm)}"}


@pytest.mark.parametrize("case", ["missing", "malformed", "expired", "tampered", "no-exp"])
async def test_me_rejects_bad_tokens(
    client: httpx.AsyncClient, user: User, settings: Settings, case: str
) -> None:
    key = settings.secret_key.get_secret_value()
    now = datetime.now(UTC)
    headers = {
        "missing": {},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "expired": signed(
            {"sub": str(user.id), "iat": now - timedelta(hours=2), "exp": now - timedelta(hours=1)},
            key,
        ),
        "tampered": signed(
            {"sub": str(user.id), "iat": now, "exp": now + timedelta(hours=1)}, "another-key" * 4
        ),
        "no-exp": signed({"sub": str(user.id), "iat": now}, key),
    }[case]
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


async def test_me_rejects_a_deactivated_user(
    auth_client: httpx.AsyncClient, user: User, session: AsyncSession
) -> None:
    user.is_active = False
    await session.commit()
    assert (await auth_client.get("/api/v1/users/me")).status_code == 401

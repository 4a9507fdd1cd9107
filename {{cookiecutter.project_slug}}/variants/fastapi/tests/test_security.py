import base64
import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import PASSWORD, ClientWith


def unsigned_token(claims: dict[str, object]) -> str:
    def encode(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


def claims_for(user: User) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"sub": str(user.id), "iat": now, "exp": now + timedelta(minutes=5)}


async def test_token_with_alg_none_is_refused(client: httpx.AsyncClient, user: User) -> None:
    now = int(datetime.now(UTC).timestamp())
    token = unsigned_token({"sub": str(user.id), "iat": now, "exp": now + 300})
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_token_signed_with_another_algorithm_is_refused(
    client: httpx.AsyncClient, user: User, settings: Settings
) -> None:
    token = jwt.encode(claims_for(user), settings.secret_key.get_secret_value(), "HS512")
    response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_token_of_a_deleted_user_is_refused(
    auth_client: httpx.AsyncClient, user: User, session: AsyncSession
) -> None:
    await session.delete(user)
    await session.commit()
    assert (await auth_client.get("/api/v1/users/me")).status_code == 401


async def test_security_headers_on_every_response(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/health"), await client.get("/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in response.headers


async def test_hsts_when_configured(client_with: ClientWith) -> None:
    async with client_with(hsts_seconds=31536000) as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_cors_allows_only_configured_origins(client_with: ClientWith) -> None:
    async with client_with(cors_origins=["https://app.example.com"]) as client:
        allowed = await client.get("/health", headers={"Origin": "https://app.example.com"})
        other = await client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


async def test_wildcard_cors_never_allows_credentials(client_with: ClientWith) -> None:
    async with client_with(cors_origins=["*"]) as client:
        response = await client.get("/health", headers={"Origin": "https://any.example.com"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_login_is_throttled_per_client_and_username(
    client: httpx.AsyncClient, settings: Settings, user: User
) -> None:
    allowed = int(settings.login_rate_limit.split("/")[0])
    form = {"username": user.email, "password": "wrong password"}
    for _ in range(allowed):
        assert (await client.post("/api/v1/auth/token", data=form)).status_code == 401
    throttled = await client.post("/api/v1/auth/token", data=form | {"password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert int(throttled.headers["retry-after"]) >= 1
    other_user = {"username": "someone-else@example.com", "password": PASSWORD}
    assert (await client.post("/api/v1/auth/token", data=other_user)).status_code == 401


async def test_docs_can_be_switched_off(client_with: ClientWith) -> None:
    async with client_with(docs_enabled=False) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404


async def test_login_logs_no_password_or_token(
    client: httpx.AsyncClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": PASSWORD}
    )
    token = response.json()["access_token"]
    await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/v1/auth/token" in logged
    assert PASSWORD not in logged
    assert token not in logged

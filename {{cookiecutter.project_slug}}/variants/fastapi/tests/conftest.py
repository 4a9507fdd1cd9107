"""Fixtures: a migrated test database, a rolled-back transaction per test, HTTP clients.

Tests run on SQLite by default. Set TEST_DATABASE_URL (for example
postgresql://postgres@127.0.0.1:5432/test) to run them on PostgreSQL; its tables are
dropped and re-created, so never point it at a database you care about.
"""

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.dependencies import get_sessionmaker
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.security import create_access_token, hash_password
from {{ cookiecutter.package_name }}.settings import Settings

MakeUser = Callable[..., Awaitable[User]]
TokenFor = Callable[[User], dict[str, str]]
ClientWith = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    sqlite_file = tmp_path_factory.mktemp("db") / "test.db"
    return Settings(
        _env_file=None,
        environment="test",
        secret_key=SecretStr("test-secret-key-long-enough-for-every-hmac-algorithm-0123456789ab"),
        database_url=os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{sqlite_file}",
    )


def alembic_config(settings: Settings) -> Config:
    config = Config(PROJECT_ROOT / "alembic.ini")
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The test database, its schema built as in production: by the migrations."""
    config = alembic_config(settings)
    # Alembic's async env.py runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    engine = create_engine(settings)
    yield engine
    await engine.dispose()
    await asyncio.to_thread(command.downgrade, config, "base")


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        yield connection
        await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session for arranging and checking data; it sees what the requests wrote."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        yield session


@pytest.fixture
def app(settings: Settings, connection: AsyncConnection) -> FastAPI:
    """The application, its requests' sessions joined to the test's transaction."""
    app = create_app(settings)
    app.dependency_overrides[get_sessionmaker] = lambda: async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    return app


@pytest.fixture
async def running_app(app: FastAPI) -> AsyncIterator[ASGIApp]:
    """The application with its lifespan started, as a server would run it."""
    async with LifespanManager(app) as manager:
        yield manager.app


@pytest.fixture
async def client(running_app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=running_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def client_with(settings: Settings) -> ClientWith:
    """A client of its own app, created with some settings changed (unvalidated: pass
    them as the settings hold them, e.g. an asyncpg URL)."""

    @asynccontextmanager
    async def client(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update=changes))
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
            ) as client,
        ):
            yield client

    return client


@pytest.fixture
def unreachable_database_url() -> str:
    """A PostgreSQL URL on a loopback port nothing listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/unreachable"


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
async def user(make_user: MakeUser) -> User:
    return await make_user("ada@example.com")


@pytest.fixture
async def auth_client(
    running_app: ASGIApp, user: User, token_for: TokenFor
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests carry a valid bearer token for `user`."""
    transport = httpx.ASGITransport(app=running_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=token_for(user)
    ) as client:
        yield client


@pytest.fixture
def make_user(session: AsyncSession, password_hash: str) -> MakeUser:
    """Create a user whose password is PASSWORD."""

    async def make(email: str, *, is_active: bool = True) -> User:
        user = User(email=email, hashed_password=password_hash, is_active=is_active)
        session.add(user)
        await session.commit()
        return user

    return make


@pytest.fixture
def token_for(settings: Settings) -> TokenFor:
    """The Authorization header of a valid bearer token for a user."""

    def header(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_access_token(str(user.id), settings).token}"}

    return header

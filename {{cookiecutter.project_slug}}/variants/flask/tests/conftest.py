"""Fixtures: a migrated test database, a rolled-back transaction per test, HTTP clients.

Tests run on SQLite by default. Set TEST_DATABASE_URL (for example
postgresql://postgres@127.0.0.1:5432/test) to run them on PostgreSQL; its tables are
dropped and re-created, so never point it at a database you care about.
"""

import os
import socket
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, cast

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.db import db
from {{ cookiecutter.package_name }}.models import User
from {{ cookiecutter.package_name }}.security import create_access_token, hash_password
from {{ cookiecutter.package_name }}.settings import Settings

MakeApp = Callable[..., Flask]
MakeUser = Callable[..., User]
TokenFor = Callable[[User], dict[str, str]]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = str(PROJECT_ROOT / "migrations")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    sqlite_file = tmp_path_factory.mktemp("db") / "test.db"
    return Settings(
        _env_file=None,
        environment="test",
        secret_key="test-secret-key-long-enough-for-every-hmac-algorithm-0123456789ab",
        database_url=os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{sqlite_file}",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> Iterator[Flask]:
    """The application, its test database built as in production: by the migrations."""
    app = create_app(settings)
    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
        flask_migrate.upgrade(directory=MIGRATIONS)
    yield app
    with app.app_context():
        flask_migrate.downgrade(directory=MIGRATIONS, revision="base")
        db.engine.dispose()


@pytest.fixture
def connection(app: Flask) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test.

    Flask-SQLAlchemy's maintainer's recipe: the app's engine is swapped for this connection,
    and the session (join_transaction_mode="create_savepoint") turns each commit into a
    savepoint, so the requests commit as usual and nothing outlives the test.
    """
    engine = app_engines(app)[None]
    with cast(Engine, engine).connect() as connection:
        transaction = connection.begin()
        app_engines(app)[None] = connection
        try:
            yield connection
        finally:
            app_engines(app)[None] = engine
            transaction.rollback()


def app_engines(app: Flask) -> MutableMapping[str | None, Engine | Connection]:
    with app.app_context():
        return cast(MutableMapping[str | None, Engine | Connection], db.engines)


@pytest.fixture
def make_app(settings: Settings, connection: Connection) -> MakeApp:
    """Another app (other settings, or routes of its own) whose requests join the test's
    transaction too. Call it from a fixture when the test uses caplog: create_app sets up
    logging afresh."""

    def make(**changes: Any) -> Flask:
        app = create_app(settings.model_copy(update=changes))
        app_engines(app)[None] = connection
        return app

    return make


@pytest.fixture
def client(app: Flask, connection: Connection) -> FlaskClient:  # noqa: ARG001 - isolation
    return app.test_client()


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def make_user(app: Flask, connection: Connection, password_hash: str) -> MakeUser:  # noqa: ARG001
    """Create a user whose password is PASSWORD."""

    def make(email: str, *, is_active: bool = True) -> User:
        with app.app_context():
            user = User(email=email, hashed_password=password_hash, is_active=is_active)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)  # loaded, so it stays readable outside the context
            return user

    return make


@pytest.fixture
def user(make_user: MakeUser) -> User:
    return make_user("ada@example.com")


@pytest.fixture
def token_for(settings: Settings) -> TokenFor:
    """The Authorization header of a valid bearer token for a user."""

    def header(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {create_access_token(str(user.id), settings).token}"}

    return header


@pytest.fixture
def auth_client(app: Flask, connection: Connection, user: User, token_for: TokenFor) -> FlaskClient:  # noqa: ARG001
    """A client whose requests carry a valid bearer token for `user`."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = token_for(user)["Authorization"]
    return client


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port

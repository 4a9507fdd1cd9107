from typing import Any

import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.settings import Settings


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize("secret", [None, "change-me", "too-short"])
def test_production_refuses_a_default_or_short_secret(secret: str | None) -> None:
    values = {"environment": "production"} | ({"secret_key": secret} if secret else {})
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        make(**values)


def test_production_accepts_a_long_random_secret() -> None:
    settings = make(environment="production", secret_key="k" * 48)
    assert settings.json_logs


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgresql://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql+psycopg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:///var/app.db", "sqlite+aiosqlite:///var/app.db"),
    ],
)
def test_database_url_is_pointed_at_the_async_driver(given: str, used: str) -> None:
    assert make(database_url=given).database_url == used


@pytest.mark.parametrize("url", ["mysql://u@db/app", "not a url"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url"):
        make(database_url=url)


def test_default_database_is_an_embedded_sqlite_file() -> None:
    assert make().database_url.startswith("sqlite+aiosqlite:///")

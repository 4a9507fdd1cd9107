import runpy
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

from .conftest import PROJECT_ROOT


def make(**values: Any) -> Settings:
    """Settings from these values (and the environment), not the project's .env."""
    return Settings.from_env(_env_file=None, **values)


@pytest.mark.parametrize("secret", [None, "change-me", "too-short"])
def test_production_refuses_a_default_or_short_secret(secret: str | None) -> None:
    values: dict[str, Any] = {"environment": "production"}
    if secret:
        values["secret_key"] = secret
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        make(**values)


def test_production_accepts_a_long_random_secret() -> None:
    settings = make(environment="production", secret_key="k" * 48)
    assert settings.json_logs


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+psycopg://u:p@db:5432/app"),
        ("postgresql://u:p@db/app", "postgresql+psycopg://u:p@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql+psycopg://u@db/app"),
        ("postgresql://u@db/app?sslmode=require", "postgresql+psycopg://u@db/app?sslmode=require"),
        ("sqlite:////srv/app.db", "sqlite:////srv/app.db"),
    ],
)
def test_database_url_is_pointed_at_psycopg(given: str, used: str) -> None:
    assert make(database_url=given).database_url == used


@pytest.mark.parametrize("url", ["mysql://u@db/app", "not a url"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        make(database_url=url)


def test_default_database_is_var_app_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert make().database_url == f"sqlite:///{tmp_path / 'var' / 'app.db'}"


def test_environment_wins_over_the_env_file_and_empty_means_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("PORT=9000\nTHREADS=8\nLOG_FORMAT=\nDOCS_ENABLED=false\n")
    monkeypatch.setenv("PORT", "9100")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = Settings.from_env()
    assert (settings.port, settings.threads, settings.log_level) == (9100, 8, "DEBUG")
    assert settings.log_format is None
    assert settings.docs_enabled is False


def test_invalid_values_are_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PORT": "eighty", "LOG_LEVEL": "LOUD", "THREADS": "0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        Settings.from_env(_env_file=None)
    assert str(error.value).splitlines() == [
        "LOG_LEVEL must be 'DEBUG', 'INFO', 'WARNING' or 'ERROR', not 'LOUD'",
        "PORT must be a number, not 'eighty'",
        "THREADS must be at least 1",
    ]


@pytest.mark.parametrize(
    ("host", "bind"), [("192.0.2.10", "192.0.2.10:9000"), ("::1", "[::1]:9000")]
)
def test_gunicorn_takes_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, host: str, bind: str
) -> None:
    environment = {"HOST": host, "PORT": "9000", "WEB_CONCURRENCY": "3", "THREADS": "6"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert config["bind"] == [bind]
    assert (config["workers"], config["threads"]) == (3, 6)
    assert config["worker_class"] == "{{ cookiecutter.package_name }}.server.SlowClientSafeWorker"
    assert config["wsgi_app"] == "{{ cookiecutter.package_name }}.app:create_app()"

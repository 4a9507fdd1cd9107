import runpy
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

from .conftest import PROJECT_ROOT


@pytest.mark.parametrize("secret", [None, "change-me", "too-short"])
def test_production_refuses_a_default_or_short_secret(secret: str | None) -> None:
    values: dict[str, Any] = {"environment": "production"}
    if secret:
        values["secret_key"] = secret
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings(**values)


def test_production_accepts_a_long_random_secret() -> None:
    settings = Settings(environment="production", secret_key="k" * 48)
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
    assert Settings(database_url=given).database_url == used


@pytest.mark.parametrize("url", ["mysql://u@db/app", "not a url"])
def test_unsupported_database_url_is_refused(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Settings(database_url=url)


def test_default_database_is_var_app_db_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url == f"sqlite:///{tmp_path / 'var' / 'app.db'}"


def test_environment_wins_over_the_env_file_and_empty_means_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nTHREADS=8\nLOG_FORMAT=\nDOCS_ENABLED=false\n")
    settings = Settings.from_env({"PORT": "9100", "LOG_LEVEL": "DEBUG"}, env_file=env_file)
    assert (settings.port, settings.threads, settings.log_level) == (9100, 8, "DEBUG")
    assert settings.log_format is None
    assert settings.docs_enabled is False


def test_invalid_values_are_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"PORT": "eighty", "LOG_LEVEL": "LOUD", "THREADS": "0"}, env_file=None)
    assert str(error.value).splitlines() == [
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, not 'LOUD'",
        "PORT must be a number, not 'eighty'",
    ]
    with pytest.raises(SettingsError, match="THREADS must be at least 1"):
        Settings.from_env({"THREADS": "0"}, env_file=None)


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

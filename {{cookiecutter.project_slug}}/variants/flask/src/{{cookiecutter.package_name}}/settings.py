"""Settings read from the environment (and a .env file), validated once at start-up."""

import ipaddress
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Self, Union, get_args, get_origin

from dotenv import dotenv_values
from flask import current_app
from limits import parse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_SECRET_KEY = "change-me"  # noqa: S105 - the development default production refuses
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_DATABASE_URL = f"sqlite:///{Path('var') / 'app.db'}"

POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
}
SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """Some settings are invalid; the message has one line per setting, named as in the env."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting, named like its environment variable in lower case."""

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = field(default=DEFAULT_SECRET_KEY, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 10
    database_timeout: float = 2.0  # seconds to connect, or to wait for a pooled connection

    login_rate_limit: str = "10/minute"  # per client address and username
    redis_url: str | None = None  # shares the login limit across workers

    access_token_expire_minutes: int = 30
    jwt_leeway_seconds: int = 10

    max_body_size: int = 1024 * 1024  # request body limit, bytes
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] | None = None
    docs_enabled: bool = True
    cors_origins: tuple[str, ...] = ()  # CORS_ORIGINS=https://app.example.com,https://x.io
    # Proxies whose X-Forwarded-For gives the client's address (addresses, networks or *);
    # gunicorn reads the same variable for X-Forwarded-Proto.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    hsts_seconds: int = 0  # set behind TLS, e.g. 31536000

    host: str = "127.0.0.1"
    port: int = 8000
    web_concurrency: int = 1
    threads: int = 4
    graceful_timeout: int = 30

    metrics_enabled: bool = True
    metrics_port: int = 9464  # served by `serve` only
    otel_exporter_otlp_endpoint: str | None = None  # turns traces on
    sentry_dsn: str | None = field(default=None, repr=False)  # turns error reports on

    def __post_init__(self) -> None:
        problems = [
            f"{name.upper()} must be {rule}"
            for name, ok, rule in [
                ("database_pool_size", self.database_pool_size >= 1, "at least 1"),
                ("database_timeout", self.database_timeout > 0, "greater than 0"),
                ("access_token_expire_minutes", self.access_token_expire_minutes > 0, "positive"),
                ("jwt_leeway_seconds", 0 <= self.jwt_leeway_seconds <= 60, "between 0 and 60"),
                ("max_body_size", self.max_body_size >= 1, "at least 1"),
                ("hsts_seconds", self.hsts_seconds >= 0, "0 or more"),
                ("port", 1 <= self.port <= 65535, "between 1 and 65535"),
                ("web_concurrency", self.web_concurrency >= 1, "at least 1"),
                ("threads", self.threads >= 1, "at least 1"),
                ("graceful_timeout", self.graceful_timeout >= 1, "at least 1"),
                ("metrics_port", 1 <= self.metrics_port <= 65535, "between 1 and 65535"),
                (
                    "metrics_port",
                    not self.metrics_enabled or self.metrics_port != self.port,
                    "different from PORT: metrics have their own listener",
                ),
                (
                    "otel_exporter_otlp_endpoint",
                    (self.otel_exporter_otlp_endpoint or "http://").startswith(
                        ("http://", "https://")
                    ),
                    "an http:// or https:// URL (OTLP over HTTP)",
                ),
            ]
            if not ok
        ]
        try:
            object.__setattr__(self, "database_url", use_psycopg_driver(self.database_url))
        except ValueError as exc:
            problems.append(f"DATABASE_URL {exc}")
        try:
            for proxy in self.forwarded_allow_ips:
                if proxy != "*":
                    ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append("FORWARDED_ALLOW_IPS must be addresses or networks, or *")
        try:
            parse(self.login_rate_limit)
        except ValueError:
            problems.append("LOGIN_RATE_LIMIT must read like '10/minute' or '100 per hour'")
        if self.environment == "production" and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH
        ):
            problems.append(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                "characters in production"
            )
        if problems:
            raise SettingsError("\n".join(problems))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Self:
        """Read every setting from the environment, falling back to the .env file.

        Empty values count as unset, as in .env.example.
        """
        values: dict[str, str | None] = {}
        if env_file is not None and env_file.is_file():
            values.update(dotenv_values(env_file))
        values.update(os.environ if environ is None else environ)
        given: dict[str, Any] = {}
        problems = []
        for setting in fields(cls):
            raw = values.get(setting.name.upper())
            if not raw:
                continue
            try:
                given[setting.name] = _parse(raw, setting.type)
            except ValueError as exc:
                problems.append(f"{setting.name.upper()} {exc}")
        if problems:
            raise SettingsError("\n".join(problems))
        return cls(**given)

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return self.environment == "production"
        return self.log_format == "json"


def use_psycopg_driver(url: str) -> str:
    """Accept the URLs platforms hand out and point them at the drivers this service uses.

    A relative SQLite path is made absolute here, against the working directory:
    Flask-SQLAlchemy would otherwise put it under the app's instance folder.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError("must be a URL such as postgresql://user:password@host/db") from exc
    if parsed.drivername in POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername in SQLITE_SCHEMES:
        parsed = parsed.set(drivername="sqlite")
        if parsed.database and parsed.database != ":memory:":
            parsed = parsed.set(database=str(Path(parsed.database).absolute()))
    else:
        raise ValueError("must be a PostgreSQL or SQLite URL")
    return parsed.render_as_string(hide_password=False)


def _parse(raw: str, kind: Any) -> object:
    # The dataclass annotations say how to read each variable: bool, int, float, str, a choice
    # or a comma-separated list.
    if get_origin(kind) is tuple:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if get_origin(kind) in {Union, types.UnionType}:
        (kind,) = (arg for arg in get_args(kind) if arg is not type(None))
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if raw not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {raw!r}")
        return raw
    if kind is bool:
        if raw.lower() not in TRUE_WORDS | FALSE_WORDS:
            raise ValueError(f"must be true or false, not {raw!r}")
        return raw.lower() in TRUE_WORDS
    if kind in {int, float}:
        try:
            return kind(raw)
        except ValueError:
            raise ValueError(f"must be a number, not {raw!r}") from None
    return raw


def get_settings() -> Settings:
    """The settings the current application was created with."""
    settings: Settings = current_app.config["SETTINGS"]
    return settings

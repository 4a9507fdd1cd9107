"""Settings read from the environment (and a .env file), validated once at start-up."""

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from flask import current_app
from limits import parse
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
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

# pydantic's error types, said as the end of a sentence that starts with the variable's name.
SENTENCES = {
    "bool_parsing": "must be true or false, not {input!r}",
    "int_parsing": "must be a number, not {input!r}",
    "float_parsing": "must be a number, not {input!r}",
    "literal_error": "must be {expected}, not {input!r}",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "value_error": "{error}",
}


class SettingsError(ValueError):
    """Some settings are invalid; the message has one line per setting, named as in the env."""

    @classmethod
    def from_validation_error(cls, error: ValidationError) -> Self:
        lines = []
        for problem in error.errors():
            sentence = SENTENCES.get(problem["type"], "is invalid: {msg}").format(
                input=problem["input"], msg=problem["msg"], **problem.get("ctx", {})
            )
            # A check across settings (loc is empty) names its variables itself.
            name = " ".join(str(part).upper() for part in problem["loc"])
            lines.append(f"{name} {sentence}" if name else sentence)
        return cls("\n".join(lines))


CommaSeparated = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """Every setting, named like its environment variable in lower case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # empty values count as unset, as in .env.example
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = Field(default=DEFAULT_SECRET_KEY, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    database_timeout: float = Field(default=2.0, gt=0, description="Seconds to connect or wait")

    login_rate_limit: str = Field(default="10/minute", description="Per client and username")
    redis_url: str | None = Field(default=None, description="Share the login limit across workers")

    access_token_expire_minutes: int = Field(default=30, ge=1)
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=60)

    max_body_size: int = Field(default=1024 * 1024, ge=1, description="Request body limit, bytes")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] | None = None
    docs_enabled: bool = True
    cors_origins: CommaSeparated = ()  # CORS_ORIGINS=https://app.example.com,https://x.io
    # Proxies whose X-Forwarded-For gives the client's address (addresses, networks or *);
    # gunicorn reads the same variable for X-Forwarded-Proto.
    forwarded_allow_ips: CommaSeparated = ("127.0.0.1", "::1")
    hsts_seconds: int = Field(default=0, ge=0, description="Set behind TLS, e.g. 31536000")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(default=1, ge=1)
    threads: int = Field(default=4, ge=1)
    graceful_timeout: int = Field(default=30, ge=1)

    metrics_enabled: bool = True
    metrics_port: int = Field(default=9464, ge=1, le=65535, description="Served by `serve` only")
    otel_exporter_otlp_endpoint: str | None = Field(default=None, description="Turns traces on")
    sentry_dsn: str | None = Field(default=None, repr=False, description="Turns error reports on")

    @classmethod
    def from_env(cls, **values: Any) -> Self:
        """Read every setting from the environment, then .env; values given here win.

        Raise SettingsError, one sentence per invalid variable, rather than pydantic's report.
        """
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError.from_validation_error(exc) from None

    @field_validator("database_url")
    @classmethod
    def use_psycopg_driver(cls, url: str) -> str:
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

    @field_validator("cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def split_commas(cls, items: str | tuple[str, ...]) -> tuple[str, ...]:
        if isinstance(items, str):
            return tuple(item.strip() for item in items.split(",") if item.strip())
        return items

    @field_validator("forwarded_allow_ips")
    @classmethod
    def require_networks(cls, proxies: tuple[str, ...]) -> tuple[str, ...]:
        try:
            for proxy in proxies:
                if proxy != "*":
                    ipaddress.ip_network(proxy, strict=False)
        except ValueError as exc:
            raise ValueError("must be addresses or networks, or *") from exc
        return proxies

    @field_validator("login_rate_limit")
    @classmethod
    def parse_rate_limit(cls, limit: str) -> str:
        try:
            parse(limit)
        except ValueError as exc:
            raise ValueError("must read like '10/minute' or '100 per hour'") from exc
        return limit

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def require_http_url(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return endpoint

    @model_validator(mode="after")
    def keep_metrics_off_the_service_port(self) -> Self:
        if self.metrics_enabled and self.metrics_port == self.port:
            raise ValueError("METRICS_PORT must differ from PORT: metrics have their own listener")
        return self

    @model_validator(mode="after")
    def refuse_weak_secret_in_production(self) -> Self:
        if self.environment == "production" and (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < MIN_SECRET_KEY_LENGTH
        ):
            raise ValueError(
                f"SECRET_KEY must be set to a random value of at least {MIN_SECRET_KEY_LENGTH} "
                "characters in production"
            )
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return self.environment == "production"
        return self.log_format == "json"


def get_settings() -> Settings:
    """The settings the current application was created with (create_app keeps them)."""
    settings: Settings = current_app.extensions["settings"]
    return settings

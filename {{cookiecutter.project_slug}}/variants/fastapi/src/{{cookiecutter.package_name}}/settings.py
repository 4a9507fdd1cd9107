"""Settings read from the environment (and a .env file), validated once at start-up."""

from pathlib import Path
from typing import Annotated, Literal, Self

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET_KEY = "change-me"  # noqa: S105 - the development default production refuses
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{Path('var') / 'app.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    database_timeout: float = Field(default=2.0, gt=0, description="Seconds to connect or answer")

    login_rate_limit: str = Field(default="10/minute", description="Per client and username")
    redis_url: str | None = Field(default=None, description="Share the login limit across workers")

    access_token_expire_minutes: int = Field(default=30, ge=1)
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=60)

    max_body_size: int = Field(default=1024 * 1024, ge=1, description="Request body limit, bytes")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] | None = None
    docs_enabled: bool = True
    cors_origins: Annotated[list[str], NoDecode] = []
    hsts_seconds: int = Field(default=0, ge=0, description="Set behind TLS, e.g. 31536000")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(default=1, ge=1)
    graceful_timeout: int = Field(default=30, ge=1)

    metrics_enabled: bool = True
    metrics_port: int = Field(default=9464, ge=1, le=65535, description="Served by `serve` only")
    otel_exporter_otlp_endpoint: str | None = Field(default=None, description="Turns traces on")
    sentry_dsn: SecretStr | None = Field(default=None, description="Turns error reports on")

    @field_validator("database_url")
    @classmethod
    def use_async_driver(cls, url: str) -> str:
        """Accept the URLs platforms hand out and point them at the async drivers."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise ValueError("must be a URL such as postgresql://user:password@host/db")
        if scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
            scheme = "postgresql+asyncpg"
        elif scheme in {"sqlite", "sqlite+pysqlite"}:
            scheme = "sqlite+aiosqlite"
        if scheme not in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
            raise ValueError("must be a PostgreSQL or SQLite URL")
        return f"{scheme}://{rest}"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def split_origins(cls, origins: str | list[str]) -> list[str]:
        """CORS_ORIGINS is a comma-separated list, e.g. https://app.example.com,https://x.io."""
        if isinstance(origins, str):
            return [origin.strip() for origin in origins.split(",") if origin.strip()]
        return origins

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
        secret = self.secret_key.get_secret_value()
        if self.environment == "production" and (
            secret == DEFAULT_SECRET_KEY or len(secret) < MIN_SECRET_KEY_LENGTH
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

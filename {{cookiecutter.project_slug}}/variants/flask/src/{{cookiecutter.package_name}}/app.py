"""The application factory: settings, logging, extensions, blueprints, errors and middleware."""

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS

from . import docs, health
from .api import ProblemApi
from .auth import routes as auth
from .auth.decorators import BEARER_SCHEME
from .auth.throttle import login_throttle
from .db import engine_options, init_db
from .errors import register_error_handlers
from .logs import configure_logging
from .middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    TrustedProxyMiddleware,
)
from .security import dummy_password_hash
from .settings import Settings
from .tasks import routes as tasks
from .telemetry import instrument_app, login_throttled_counter

API_PREFIX = "/api/v1"

cors = CORS()


class JSONProvider(DefaultJSONProvider):
    sort_keys = False  # fields in the order the schemas declare them


def flask_config(settings: Settings) -> dict[str, Any]:
    """The keys Flask, Flask-SQLAlchemy and flask-smorest read from app.config."""
    return {
        "SECRET_KEY": settings.secret_key,
        "MAX_CONTENT_LENGTH": settings.max_body_size,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(settings),
        **docs.openapi_config(settings),
    }


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(level=settings.log_level, json_lines=settings.json_logs)

    app = Flask(__name__)
    app.json = JSONProvider(app)
    # The one place settings reach the app: the object, for our code (get_settings()), and
    # the app.config keys Flask and its extensions read.
    app.extensions["settings"] = settings
    app.config.from_mapping(flask_config(settings))
    init_db(app, settings)
    login_throttle.init_app(
        app,
        limit=settings.login_rate_limit,
        redis_url=settings.redis_url,
        on_refused=login_throttled_counter(settings),
    )
    if settings.cors_origins:
        cors.init_app(
            app,
            origins=list(settings.cors_origins),
            # Browsers refuse credentials with a wildcard origin; never offer both.
            supports_credentials="*" not in settings.cors_origins,
            send_wildcard="*" in settings.cors_origins,
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Location", "X-Request-ID", "Retry-After"],
        )
    # Hash once now, so the first login of an unknown email costs what the others do.
    dummy_password_hash()

    # flask-smorest's Api holds one OpenAPI document, so each app gets its own.
    api = ProblemApi(app, spec_kwargs=docs.spec_kwargs())
    api.spec.components.security_scheme(BEARER_SCHEME, docs.bearer_scheme())
    api.register_blueprint(health.blp)
    for blueprint in (auth.blp, auth.users_blp, tasks.blp):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + blueprint.url_prefix)
    if settings.docs_enabled:
        app.register_blueprint(docs.assets)
    register_error_handlers(app)

    app.wsgi_app = TrustedProxyMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, settings.forwarded_allow_ips
    )
    # The request id must exist before anything can fail, so its middleware goes outermost.
    app.wsgi_app = RequestContextMiddleware(  # type: ignore[method-assign]
        SecurityHeadersMiddleware(
            BodySizeLimitMiddleware(app.wsgi_app, max_body_size=settings.max_body_size),
            hsts_seconds=settings.hsts_seconds,
        )
    )
    instrument_app(app, settings)
    return app

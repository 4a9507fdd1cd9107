"""The application factory: settings, logging, routers, error handling and the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypedDict

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import DESCRIPTION, PROJECT_NAME, VERSION, docs, health
from .auth import routes as auth
from .auth.throttle import LoginThrottle
from .db import create_engine, create_read_sessionmaker, create_sessionmaker
from .docs import LICENSE_INFO, SERVERS, operation_id
from .errors import add_problem_schema, register_error_handlers
from .logs import configure_logging
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .security import dummy_password_hash
from .settings import Settings
from .tasks import routes as tasks
from .telemetry import instrument_app, instrument_engine, login_throttled_counter

# Each router's tag, in the order the Flask variant registers its blueprints, so both
# documents list them alike. A feature adds its tag here and its router in create_app.
OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "health", "description": "Probes for the platform."},
    {"name": "auth", "description": "Accounts and access tokens."},
    {"name": "users", "description": "The current user."},
    {"name": "tasks", "description": "The current user's tasks."},
]


class State(TypedDict):
    """What the lifespan hands to every request as `request.state`."""

    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    login_throttle: LoginThrottle


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(level=settings.log_level, json_lines=settings.json_logs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        # Hash once now, so the first login of an unknown email costs what the others do.
        await to_thread.run_sync(dummy_password_hash)
        engine = create_engine(settings)
        instrument_engine(engine, settings)
        await health.log_schema_state(engine, settings)
        throttle = LoginThrottle(
            settings.login_rate_limit,
            settings.redis_url,
            on_refused=login_throttled_counter(settings),
        )
        try:
            yield {
                "sessionmaker": create_sessionmaker(engine),
                "read_sessionmaker": create_read_sessionmaker(engine),
                "login_throttle": throttle,
            }
        finally:
            await engine.dispose()

    about: dict[str, Any] = {
        "title": PROJECT_NAME,
        "description": DESCRIPTION,
        "version": VERSION,
        "openapi_tags": OPENAPI_TAGS,
        "servers": SERVERS,
        "license_info": LICENSE_INFO,
        "generate_unique_id_function": operation_id,
        "lifespan": lifespan,
    }
    # Swagger UI and ReDoc come from docs.py, which serves their assets itself (no CDN).
    openapi_url = "/openapi.json" if settings.docs_enabled else None
    app = FastAPI(openapi_url=openapi_url, docs_url=None, redoc_url=None, **about)
    app.state.settings = settings

    api = APIRouter(prefix="/api/v1")
    api.include_router(auth.router)
    api.include_router(auth.users_router)
    api.include_router(tasks.router)
    app.include_router(health.router)
    app.include_router(api)
    if settings.docs_enabled:
        app.include_router(docs.router)

    register_error_handlers(app)
    # The last added runs first: the request id must exist before anything can fail.
    app.add_middleware(BodySizeLimitMiddleware, max_body_size=settings.max_body_size)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            # Browsers refuse credentials with a wildcard origin; never offer both.
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Location", "X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, hsts_seconds=settings.hsts_seconds)
    app.openapi = partial(_openapi_with_problems, app)  # type: ignore[method-assign]
    instrument_app(app, settings)
    return app


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    # FastAPI's "Extending OpenAPI" recipe: build once, then add what the routes refer to.
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
            license_info=app.license_info,
        )
        add_problem_schema(schema)
        app.openapi_schema = schema
    return app.openapi_schema

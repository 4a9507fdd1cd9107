"""The application factory: settings, logging, routers, error handling and the lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypedDict

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from . import DESCRIPTION, PROJECT_NAME, VERSION, health
from .auth import routes as auth
from .db import create_engine, create_sessionmaker
from .errors import add_problem_schema, register_error_handlers
from .logs import configure_logging
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .settings import Settings
from .tasks import routes as tasks


class State(TypedDict):
    """What the lifespan hands to every request as `request.state`."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(level=settings.log_level, json_lines=settings.json_logs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        engine = create_engine(settings)
        try:
            yield {"engine": engine, "sessionmaker": create_sessionmaker(engine)}
        finally:
            await engine.dispose()

    docs_url, redoc_url = ("/docs", "/redoc") if settings.docs_enabled else (None, None)
    app = FastAPIOffline(
        title=PROJECT_NAME,
        description=DESCRIPTION,
        version=VERSION,
        lifespan=lifespan,
        docs_url=docs_url,
        redoc_url=redoc_url,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings

    api = APIRouter(prefix="/api/v1")
    api.include_router(auth.router)
    api.include_router(auth.users_router)
    api.include_router(tasks.router)
    app.include_router(health.router)
    app.include_router(api)

    register_error_handlers(app)
    # Added last, runs first: the request id must exist before anything can fail.
    app.add_middleware(BodySizeLimitMiddleware, max_body_size=settings.max_body_size)
    app.add_middleware(RequestContextMiddleware)
    app.openapi = partial(_openapi_with_problems, app)  # type: ignore[method-assign]
    return app


def _openapi_with_problems(app: FastAPI) -> dict[str, Any]:
    # FastAPI's "Extending OpenAPI" recipe: build once, then add what the routes refer to.
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        add_problem_schema(schema)
        app.openapi_schema = schema
    return app.openapi_schema

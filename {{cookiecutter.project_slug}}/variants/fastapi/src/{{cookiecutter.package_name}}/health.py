"""Liveness (touches nothing external) and readiness (the database answers, fully migrated)."""

import asyncio
import logging
from functools import cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from . import COMMAND
from .dependencies import SessionDep, SettingsDep
from .docs import PUBLIC
from .errors import problem_responses
from .settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])

MIGRATIONS = Path("migrations")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Health):
    database: Literal["ok"] = "ok"


@cache
def migrations_head() -> str:
    """The newest revision in migrations/, read once per process."""
    # Imported here: only the first readiness probe (or start-up check) pays for Alembic,
    # whose plugin registry would log a line per plugin as it loads.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    if not MIGRATIONS.is_dir():
        raise RuntimeError("migrations/ not found: start the service from the project's root.")
    return ",".join(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads()))


async def schema_revision(session: AsyncSession) -> str | None:
    """The revision the database was migrated to; None if it never was."""
    try:
        versions = await session.scalars(text("SELECT version_num FROM alembic_version"))
        return ",".join(sorted(versions)) or None
    except DBAPIError:
        # No such table, or no database at all: the second query tells which by raising.
        await session.rollback()
        await session.execute(text("SELECT 1"))
        return None


def not_migrated(revision: str | None) -> str:
    """The sentence for a database whose schema is behind the code."""
    return (
        f"The database schema is at {revision or 'no revision'}, the code expects "
        f"{migrations_head()}: run `{COMMAND} migrate`."
    )


async def log_schema_state(engine: AsyncEngine, settings: Settings) -> None:
    """In production, say at start-up in one line whether the schema is at the newest migration.

    Elsewhere the check is skipped: `dev` migrates first, and tests hold the database open.
    """
    if settings.environment != "production":
        return
    try:
        head = migrations_head()
        async with asyncio.timeout(settings.database_timeout), AsyncSession(engine) as session:
            revision = await schema_revision(session)
    except Exception as exc:  # start anyway: readiness reports it too
        logger.warning("Could not check the database schema at start-up: %s", exc)
        return
    if revision == head:
        logger.info("Database schema is at the newest migration (%s).", revision)
    else:
        logger.error("%s Until then /health/ready answers 503.", not_migrated(revision))


@router.get("", response_description="The service is alive", openapi_extra=PUBLIC)
async def health() -> Health:
    """Liveness: answers without touching anything external."""
    return Health()


@router.get(
    "/ready",
    response_description="The service can serve",
    responses=problem_responses(503),
    openapi_extra=PUBLIC,
)
async def ready(session: SessionDep, settings: SettingsDep) -> Readiness:
    """Readiness: the database answers within the configured timeout."""
    try:
        async with asyncio.timeout(settings.database_timeout):
            revision = await schema_revision(session)
    except Exception as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unreachable."
        ) from exc
    if revision != migrations_head():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, not_migrated(revision))
    return Readiness()

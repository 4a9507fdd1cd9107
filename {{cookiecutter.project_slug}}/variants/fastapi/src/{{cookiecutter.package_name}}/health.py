"""Liveness (touches nothing external) and readiness (the database answers)."""

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import text

from .dependencies import SessionDep, SettingsDep
from .docs import PUBLIC
from .errors import problem_responses

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Health):
    database: Literal["ok"] = "ok"


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
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unreachable."
        ) from exc
    return Readiness()

"""Liveness (touches nothing external) and readiness (the database answers)."""

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import text

from .dependencies import SessionDep, SettingsDep
from .errors import problem_responses

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Health):
    database: Literal["ok"] = "ok"


@router.get("")
async def health() -> Health:
    return Health()


@router.get("/ready", responses=problem_responses(503))
async def ready(session: SessionDep, settings: SettingsDep) -> Readiness:
    try:
        async with asyncio.timeout(settings.database_timeout):
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "The database is unreachable."
        ) from exc
    return Readiness()

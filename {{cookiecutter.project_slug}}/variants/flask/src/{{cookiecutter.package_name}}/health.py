"""Liveness (touches nothing external) and readiness (the database answers)."""

import logging

import marshmallow as ma
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from .api import Blueprint
from .db import db

logger = logging.getLogger(__name__)

blp = Blueprint("health", __name__, url_prefix="/health", description="Probes for the platform.")


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok", required=True)


class ReadinessSchema(HealthSchema):
    database = ma.fields.Constant("ok", required=True)


@blp.route("", methods=["GET"])
@blp.response(200, HealthSchema)
def health() -> dict[str, str]:
    return {"status": "ok"}


@blp.route("/ready", methods=["GET"])
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, response="SERVICE_UNAVAILABLE")
def ready() -> dict[str, str]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise ServiceUnavailable("The database is unreachable.") from exc
    return {"status": "ok", "database": "ok"}

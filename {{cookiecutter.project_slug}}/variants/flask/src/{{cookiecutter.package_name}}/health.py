"""Liveness (touches nothing external) and readiness (the database answers)."""

import logging

import marshmallow as ma
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from .api import Blueprint, problem_responses, public
from .db import db

logger = logging.getLogger(__name__)

blp = Blueprint("health", __name__, url_prefix="/health", description="Probes for the platform.")


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok")


class ReadinessSchema(HealthSchema):
    database = ma.fields.Constant("ok")


@blp.route("", methods=["GET"])
@public
@blp.response(200, HealthSchema, description="The service is alive")
def health() -> dict[str, str]:
    """Liveness: answers without touching anything external."""
    return {"status": "ok"}


@blp.route("/ready", methods=["GET"])
@public
@blp.response(200, ReadinessSchema, description="The service can serve")
@problem_responses(503)
def ready() -> dict[str, str]:
    """Readiness: the database answers within the configured timeout."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise ServiceUnavailable("The database is unreachable.") from exc
    return {"status": "ok", "database": "ok"}

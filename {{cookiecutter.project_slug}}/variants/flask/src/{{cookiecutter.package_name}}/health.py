"""Liveness (touches nothing external) and readiness (the database answers, fully migrated)."""

import logging
from functools import cache
from pathlib import Path

import marshmallow as ma
from flask import Flask, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import ServiceUnavailable

from . import COMMAND
from .api import Blueprint, problem_responses, public
from .db import db
from .errors import problem_response

logger = logging.getLogger(__name__)

blp = Blueprint("health", __name__, url_prefix="/health", description="Probes for the platform.")

MIGRATIONS = Path("migrations")


class HealthSchema(ma.Schema):
    status = ma.fields.Constant("ok")


class ReadinessSchema(HealthSchema):
    database = ma.fields.Constant("ok")


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


def schema_revision() -> str | None:
    """The revision the database was migrated to; None if it never was."""
    try:
        versions = db.session.scalars(text("SELECT version_num FROM alembic_version"))
        return ",".join(sorted(versions)) or None
    except DBAPIError:
        # No such table, or no database at all: the second query tells which by raising.
        db.session.rollback()
        db.session.execute(text("SELECT 1"))
        return None


def not_migrated(revision: str | None) -> str:
    """The sentence for a database whose schema is behind the code."""
    return (
        f"The database schema is at {revision or 'no revision'}, the code expects "
        f"{migrations_head()}: run `{COMMAND} migrate`."
    )


def log_schema_state(app: Flask) -> None:
    """Say at start-up, in one line, whether the database schema is at the newest migration."""
    try:
        head = migrations_head()
        with app.app_context():
            revision = schema_revision()
    except Exception as exc:  # start anyway: readiness reports it too
        logger.warning("Could not check the database schema at start-up: %s", exc)
        return
    if revision == head:
        logger.info("Database schema is at the newest migration (%s).", revision)
    else:
        logger.error("%s Until then /health/ready answers 503.", not_migrated(revision))


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
def ready() -> dict[str, str] | Response:
    """Readiness: the database answers within the configured timeout."""
    try:
        revision = schema_revision()
    except SQLAlchemyError as exc:
        logger.warning("Readiness check failed: %s", exc.__class__.__name__)
        raise ServiceUnavailable("The database is unreachable.") from exc
    if revision != migrations_head():
        # Answered here: the error handler words every 5xx alike, and this one says what to do.
        return problem_response(503, not_migrated(revision))
    return {"status": "ok", "database": "ok"}

"""Alembic environment for Flask-Migrate: the app's engine and models, batch mode on SQLite."""

import logging
from typing import Any, Literal

from alembic import context
from alembic.operations import MigrationScript
from flask import current_app
from sqlalchemy import text
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.db import UTCDateTime
from {{ cookiecutter.package_name }}.models import Base

config = context.config
target_metadata = Base.metadata
logger = logging.getLogger("alembic.env")


def render_item(kind: str, obj: object, _context: object) -> str | Literal[False]:
    # Migrations spell column types with sqlalchemy alone, never with the app's classes.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty_revision(
    _context: object, _revision: object, directives: list[MigrationScript]
) -> None:
    # `db migrate` with no change to the models writes no empty revision.
    changes = directives[0].upgrade_ops
    if getattr(config.cmd_opts, "autogenerate", False) and changes and changes.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def configure_args() -> dict[str, Any]:
    # Flask-Migrate's own: compare_type and render_as_batch are on.
    args: dict[str, Any] = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", skip_empty_revision)
    return {"target_metadata": target_metadata, "render_item": render_item, **args}


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`flask db upgrade --sql`)."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    context.configure(url=url, literal_binds=True, **configure_args())
    with context.begin_transaction():
        context.run_migrations()


# Any fixed number: each `migrate` of this project waits for the one already running.
MIGRATION_LOCK_ID = 7_146_352_021


def wait_for_other_migrations(connection: Connection) -> None:
    # Two `migrate` at once (two pods, or compose and a job) would both create the tables and
    # one would fail; this lock lasts until the migration's transaction ends.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})


def run_migrations_online() -> None:
    engine = current_app.extensions["migrate"].db.engine
    with engine.connect() as connection:
        context.configure(connection=connection, **configure_args())
        with context.begin_transaction():
            wait_for_other_migrations(connection)
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Alembic environment: async engine, models' metadata, batch mode on SQLite."""

import asyncio
from logging.config import fileConfig
from typing import Literal

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from {{ cookiecutter.package_name }}.db import UTCDateTime, create_engine
from {{ cookiecutter.package_name }}.models import Base
from {{ cookiecutter.package_name }}.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    # `migrate` and the tests pass the URL in; plain `alembic` reads DATABASE_URL / .env.
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def render_item(kind: str, obj: object, _context: object) -> str | Literal[False]:
    # Migrations spell column types with sqlalchemy alone, never with the app's classes.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade head --sql`)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


# Any fixed number: each `migrate` of this project waits for the one already running.
MIGRATION_LOCK_ID = 7_146_352_021


def wait_for_other_migrations(connection: Connection) -> None:
    # Two `migrate` at once (two pods, or compose and a job) would both create the tables and
    # one would fail; this lock lasts until the migration's transaction ends.
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        wait_for_other_migrations(connection)
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_engine(Settings(database_url=database_url()))
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())

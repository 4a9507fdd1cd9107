from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from {{ cookiecutter.package_name }}.db import db
from {{ cookiecutter.package_name }}.models import Base

from .conftest import MIGRATIONS


def test_migrations_match_the_models(app: Flask) -> None:
    """The schema built by the migrations is exactly what the models declare."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"},
        )
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_the_single_head(app: Flask) -> None:
    heads = ScriptDirectory(MIGRATIONS).get_heads()
    assert len(heads) == 1
    with app.app_context(), db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == heads[0]

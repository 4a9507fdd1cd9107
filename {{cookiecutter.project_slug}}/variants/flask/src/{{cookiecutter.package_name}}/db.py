"""Flask-SQLAlchemy and Flask-Migrate, the declarative base, and one transaction per request."""

import math
import select
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.config import Config
from flask import Flask, Response, current_app, has_request_context, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from .settings import Settings

# Stable constraint names, so migrations can address them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Writers queue on SQLite's single write lock: wait for it rather than fail.
SQLITE_BUSY_TIMEOUT = 30.0

# Requests that change nothing: their statements run without a transaction (RequestSession).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ENGINES = "read_engines"  # app.extensions key: each engine's autocommit twin


class RequestSession(Session):
    """Flask-SQLAlchemy's session, routing the statements of safe requests to autocommit.

    A GET reads without BEGIN and COMMIT, two round trips fewer; each statement still sees
    committed data only. A request that writes gets one transaction, committed before its
    response (end_transaction). SQLAlchemy's "routing session" recipe, by HTTP method.
    """

    def get_bind(self, *args: Any, **kwargs: Any) -> Engine | Connection:
        bind = super().get_bind(*args, **kwargs)
        if has_request_context() and request.method in SAFE_METHODS:
            # Tests bind the session to a connection: it is not in the map, and stays.
            read_engine: Engine | None = current_app.extensions[READ_ENGINES].get(bind)
            return read_engine or bind
        return bind


# Created once, bound to each app by init_db. The savepoint mode only changes anything when the
# session is bound to a connection already inside a transaction: what the tests do.
db = SQLAlchemy(
    model_class=Base,
    session_options={"class_": RequestSession, "join_transaction_mode": "create_savepoint"},
)
migrate = Migrate(compare_type=True, render_as_batch=True)


def use_project_alembic_ini(config: Config) -> Config:
    """Read alembic.ini from the project root, beside migrations/ (Flask-Migrate looks inside)."""
    migrations = Path(config.get_main_option("script_location") or "migrations")
    project_config = Config(migrations.parent / "alembic.ini", cmd_opts=config.cmd_opts)
    project_config.set_main_option("script_location", str(migrations))
    return project_config


# Flask-Migrate's stubs don't know that its Config is alembic's.
migrate.configure(use_project_alembic_ini)  # type: ignore[arg-type]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp, also on SQLite (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def engine_options(settings: Settings) -> dict[str, Any]:
    """SQLALCHEMY_ENGINE_OPTIONS: a pool for every gunicorn thread, dead connections replaced."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    return {
        # Each of a worker's threads may hold a connection at the same time.
        "pool_size": max(settings.database_pool_size, settings.threads),
        "pool_timeout": settings.database_timeout,
        "connect_args": {
            # libpq counts whole seconds (and treats less than 2 as 2).
            "connect_timeout": max(2, math.ceil(settings.database_timeout)),
            # TCP keepalives find a link that died silently (refuse_dead_connection sees it).
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        },
    }


def init_db(app: Flask, settings: Settings) -> None:
    """Bind the extensions to the app and end every request's transaction."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db)
    with app.app_context():
        engines = list(db.engines.values())
    app.extensions[READ_ENGINES] = {}
    for engine in engines:
        if engine.dialect.name == "sqlite":
            _use_sqlite_transactions(engine)
        else:
            event.listen(engine, "checkout", refuse_dead_connection)
            # The same pool; a connection taken through it runs each statement on its own.
            app.extensions[READ_ENGINES][engine] = engine.execution_options(
                isolation_level="AUTOCOMMIT"
            )
    app.after_request(end_transaction)


def refuse_dead_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """Replace a pooled connection the server has closed, before a request gets it.

    pool_pre_ping's guarantee without its round trip: an idle connection has nothing to
    read, so anything readable (the server's goodbye, end of file, a socket error after the
    keepalives failed) means it is gone. SQLAlchemy then opens a new one.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.pgconn.socket, select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection")


def end_transaction(response: Response) -> Response:
    """Commit the work of a successful request before its response leaves; roll back others.

    A commit that fails raises here, so Flask answers 500 instead of the 2xx.
    """
    if not db.session.registry.has():
        return response  # the request never used the database (a probe, the docs)
    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()
    return response


def _use_sqlite_transactions(engine: Engine) -> None:
    # The sqlite3 driver's own transaction handling breaks SAVEPOINT; begin explicitly instead
    # (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL").
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    # IMMEDIATE takes the write lock up front: two requests that read then write can't
    # deadlock on upgrading their locks (SQLite would answer "database is locked").
    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _maintenance_engine(url: URL) -> Engine:
    # The server's own `postgres` database, where databases are listed and created.
    return create_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def database_is_missing(database_url: str) -> bool:
    """True only when the PostgreSQL server answers and has no database of that name."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return False
    engine = _maintenance_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            return connection.scalar(query, {"name": url.database}) is None
    except Exception:  # the server cannot tell: the caller's own error stands
        return False
    finally:
        engine.dispose()


def create_database(database_url: str) -> bool:
    """Create the PostgreSQL database named in the URL if it is missing; True if it was."""
    if not database_is_missing(database_url):
        return False
    url = make_url(database_url)
    engine = _maintenance_engine(url)
    try:
        with engine.connect() as connection:
            name = connection.dialect.identifier_preparer.quote(str(url.database))
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return True


def missing_database_sentence(database_url: str, command: str) -> str:
    """What to do when DATABASE_URL names a database the server does not have."""
    url = make_url(database_url)
    where = f"-h {url.host or 'localhost'} -p {url.port or 5432} -U {url.username or 'postgres'}"
    return (
        f'The database "{url.database}" does not exist on {url.host}:{url.port or 5432}: '
        f"create it with `createdb {where} {url.database}`, or run "
        f"`{command} migrate --create-database`."
    )

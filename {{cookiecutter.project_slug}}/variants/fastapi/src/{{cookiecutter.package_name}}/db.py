"""The engine, the declarative base and the column types the models share."""

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
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


SQLITE_BUSY_TIMEOUT = 30.0
# A connection idle 30 s is probed every 10 s, and dropped after 3 probes go unanswered.
TCP_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the application's engine; SQLite gets real transactions and foreign keys."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Writers queue on SQLite's single write lock: wait for it rather than fail.
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        _use_sqlite_transactions(engine)
        return engine
    engine = create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        pool_timeout=settings.database_timeout,
        connect_args={"timeout": settings.database_timeout},
    )
    _refuse_closed_connections(engine)
    return engine


def _refuse_closed_connections(engine: AsyncEngine) -> None:
    # What pool_pre_ping guarantees, without its three round trips (BEGIN, ping, ROLLBACK) per
    # checkout: asyncpg notices a connection the server closed (a restart, a terminated
    # backend) as soon as the loop reads the socket; keepalives find links that died silently.
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        # asyncpg offers no public way to its socket, nor keepalive options of its own.
        transport = dbapi_connection.driver_connection._transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in TCP_KEEPALIVE.items():
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError  # the pool discards it and checks out another


def _use_sqlite_transactions(engine: AsyncEngine) -> None:
    # The sqlite3 driver's own transaction handling breaks SAVEPOINT; begin explicitly instead
    # (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL").
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    # IMMEDIATE takes the write lock up front: two requests that read then write can't
    # deadlock on upgrading their locks (SQLite would answer "database is locked").
    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that write: one transaction, committed by get_session."""
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for GET and HEAD: each statement commits itself, so no BEGIN and no COMMIT.

    On PostgreSQL these share the engine's pool. SQLite begins every transaction
    explicitly (IMMEDIATE, see create_engine), so there reads keep their transaction.
    """
    if engine.dialect.name == "sqlite":
        return create_sessionmaker(engine)
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


def _maintenance_engine(url: URL) -> AsyncEngine:
    # The server's own `postgres` database, where databases are listed and created.
    return create_async_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


async def database_is_missing(database_url: str) -> bool:
    """True only when the PostgreSQL server answers and has no database of that name."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return False
    engine = _maintenance_engine(url)
    try:
        async with engine.connect() as connection:
            query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            return await connection.scalar(query, {"name": url.database}) is None
    except Exception:  # the server cannot tell: the caller's own error stands
        return False
    finally:
        await engine.dispose()


async def create_database(database_url: str) -> bool:
    """Create the PostgreSQL database named in the URL if it is missing; True if it was."""
    if not await database_is_missing(database_url):
        return False
    url = make_url(database_url)
    engine = _maintenance_engine(url)
    try:
        async with engine.connect() as connection:
            name = connection.dialect.identifier_preparer.quote(str(url.database))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await engine.dispose()
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

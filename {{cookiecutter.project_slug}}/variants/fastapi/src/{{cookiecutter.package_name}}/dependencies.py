"""What routes get from the application's state: its settings and a session per request.

Kept apart from settings.py and db.py, which the command line, Alembic and the models
import without FastAPI. All of them are `async def`: FastAPI would run a plain `def`
dependency in its threadpool, on every request.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .settings import Settings

READ_METHODS = frozenset({"GET", "HEAD"})


async def get_settings(request: Request) -> Settings:
    """The settings this application was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The session factory for this request: GET and HEAD only read, without a transaction."""
    sessionmaker: async_sessionmaker[AsyncSession] = (
        request.state.read_sessionmaker
        if request.method in READ_METHODS
        else request.state.sessionmaker
    )
    return sessionmaker


async def get_session(
    sessionmaker: Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)],
) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the endpoint succeeds, rolled back otherwise."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings)]
# Function scope: the commit happens before the response is sent, so a failed commit is a 5xx.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

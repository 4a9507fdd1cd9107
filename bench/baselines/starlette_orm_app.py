"""Bare Starlette + the SQLAlchemy asyncio ORM: starlette_app.py with every query in a session.

The same requests as the asyncpg baseline, through the layer the generated FastAPI service
must use (an AsyncSession per request on an asyncpg engine with the service's pool settings),
and nothing else of the template. Its distance from starlette_app.py is the ORM's price;
the generated service's distance from it is FastAPI's and the template's.
Serve it like the generated service: `uvicorn starlette_orm_app:app --workers N`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from common import (
    DATABASE_URL,
    POOL_SIZE,
    Invalid,
    new_task_values,
    paging,
    problem,
    user_id_from_authorization,
)
from orm import Task, User, new_task, task_json
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def error(status: int, title: str, detail: str, **headers: str) -> ProblemResponse:
    return ProblemResponse(problem(status, title, detail), status_code=status, headers=headers)


def unauthorized() -> ProblemResponse:
    return error(
        401, "Unauthorized", "Could not validate credentials.", **{"WWW-Authenticate": "Bearer"}
    )


async def active_user(request: Request, session: AsyncSession) -> User | None:
    user_id = user_id_from_authorization(request.headers.get("authorization"))
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def get_task(request: Request) -> JSONResponse:
    task_id = int(request.path_params["task_id"])
    async with request.state.sessions.begin() as session:
        user = await active_user(request, session)
        if user is None:
            return unauthorized()
        task = await session.scalar(
            select(Task).where(Task.id == task_id, Task.owner_id == user.id)
        )
    if task is None:
        return error(404, "Not Found", f"Task {task_id} was not found.")
    return JSONResponse(task_json(task))


async def list_tasks(request: Request) -> JSONResponse:
    try:
        limit, offset = paging(request.query_params)
    except Invalid as exc:
        return error(422, "Unprocessable Content", str(exc))
    async with request.state.sessions.begin() as session:
        user = await active_user(request, session)
        if user is None:
            return unauthorized()
        matching = select(Task).where(Task.owner_id == user.id)
        total = await session.scalar(select(func.count()).select_from(matching.subquery()))
        tasks = await session.scalars(matching.order_by(Task.id).limit(limit).offset(offset))
        items = [task_json(task) for task in tasks]
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset})


async def create_task(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error(400, "Bad Request", "The body is not valid JSON.")
    async with request.state.sessions.begin() as session:
        user = await active_user(request, session)
        if user is None:
            return unauthorized()
        try:
            task = new_task(new_task_values(body, user.id))
        except Invalid as exc:
            return error(422, "Unprocessable Content", str(exc))
        session.add(task)
        await session.flush()
        answer = task_json(task)
    return JSONResponse(answer, status_code=201, headers={"Location": f"/api/v1/tasks/{task.id}"})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, async_sessionmaker[AsyncSession]]]:
    # The generated service's engine settings: pool size and a ping before each checkout.
    engine = create_async_engine(
        DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1),
        pool_size=POOL_SIZE,
        pool_pre_ping=True,
    )
    yield {"sessions": async_sessionmaker(engine, expire_on_commit=False)}
    await engine.dispose()


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/api/v1/tasks", list_tasks, methods=["GET"]),
        Route("/api/v1/tasks", create_task, methods=["POST"]),
        Route("/api/v1/tasks/{task_id:int}", get_task),
    ],
    lifespan=lifespan,
)

"""Bare Starlette + asyncpg: the generated FastAPI service's per-request work, by hand.

Serve it like the generated service: `uvicorn starlette_app:app --workers N`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from common import (
    COUNT_TASKS,
    DATABASE_URL,
    INSERT_TASK,
    PAGE_TASKS,
    POOL_SIZE,
    SELECT_TASK,
    SELECT_USER,
    Invalid,
    asyncpg_sql,
    new_task_values,
    paging,
    problem,
    task_json,
    user_id_from_authorization,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SELECT_USER_SQL = asyncpg_sql(SELECT_USER)
SELECT_TASK_SQL = asyncpg_sql(SELECT_TASK)
COUNT_TASKS_SQL = asyncpg_sql(COUNT_TASKS)
PAGE_TASKS_SQL = asyncpg_sql(PAGE_TASKS)
INSERT_TASK_SQL = asyncpg_sql(INSERT_TASK)


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def error(status: int, title: str, detail: str, **headers: str) -> ProblemResponse:
    return ProblemResponse(problem(status, title, detail), status_code=status, headers=headers)


UNAUTHORIZED = ("Unauthorized", "Could not validate credentials.")


async def active_user(request: Request, conn: asyncpg.Connection) -> Any:
    user_id = user_id_from_authorization(request.headers.get("authorization"))
    if user_id is None:
        return None
    user = await conn.fetchrow(SELECT_USER_SQL, user_id)
    return user if user is not None and user["is_active"] else None


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def get_task(request: Request) -> JSONResponse:
    task_id = int(request.path_params["task_id"])
    async with request.state.pool.acquire() as conn, conn.transaction():
        user = await active_user(request, conn)
        if user is None:
            return error(401, *UNAUTHORIZED, **{"WWW-Authenticate": "Bearer"})
        row = await conn.fetchrow(SELECT_TASK_SQL, task_id, user["id"])
    if row is None:
        return error(404, "Not Found", f"Task {task_id} was not found.")
    return JSONResponse(task_json(row))


async def list_tasks(request: Request) -> JSONResponse:
    try:
        limit, offset = paging(request.query_params)
    except Invalid as exc:
        return error(422, "Unprocessable Content", str(exc))
    async with request.state.pool.acquire() as conn, conn.transaction():
        user = await active_user(request, conn)
        if user is None:
            return error(401, *UNAUTHORIZED, **{"WWW-Authenticate": "Bearer"})
        total = await conn.fetchval(COUNT_TASKS_SQL, user["id"])
        rows = await conn.fetch(PAGE_TASKS_SQL, user["id"], limit, offset)
    items = [task_json(row) for row in rows]
    return JSONResponse({"items": items, "total": total, "limit": limit, "offset": offset})


async def create_task(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return error(400, "Bad Request", "The body is not valid JSON.")
    async with request.state.pool.acquire() as conn, conn.transaction():
        user = await active_user(request, conn)
        if user is None:
            return error(401, *UNAUTHORIZED, **{"WWW-Authenticate": "Bearer"})
        try:
            values = new_task_values(body, user["id"])
        except Invalid as exc:
            return error(422, "Unprocessable Content", str(exc))
        row = await conn.fetchrow(INSERT_TASK_SQL, *values)
    location = f"/api/v1/tasks/{row['id']}"
    return JSONResponse(task_json(row), status_code=201, headers={"Location": location})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[dict[str, asyncpg.Pool]]:
    async with asyncpg.create_pool(DATABASE_URL, min_size=1, max_size=POOL_SIZE) as pool:
        yield {"pool": pool}


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/api/v1/tasks", list_tasks, methods=["GET"]),
        Route("/api/v1/tasks", create_task, methods=["POST"]),
        Route("/api/v1/tasks/{task_id:int}", get_task),
    ],
    lifespan=lifespan,
)

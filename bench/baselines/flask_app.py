"""Bare Flask + psycopg (psycopg_pool): the generated Flask service's per-request work, by hand.

Serve it like the generated service: `gunicorn -k gthread --threads T -w N flask_app:app`.
"""

from __future__ import annotations

from typing import Any

from common import (
    COUNT_TASKS,
    DATABASE_URL,
    INSERT_TASK,
    PAGE_TASKS,
    POOL_SIZE,
    SELECT_TASK,
    SELECT_USER,
    Invalid,
    new_task_values,
    paging,
    problem,
    psycopg_sql,
    task_json,
    user_id_from_authorization,
)
from flask import Flask, request
from psycopg_pool import ConnectionPool

SELECT_USER_SQL = psycopg_sql(SELECT_USER)
SELECT_TASK_SQL = psycopg_sql(SELECT_TASK)
COUNT_TASKS_SQL = psycopg_sql(COUNT_TASKS)
PAGE_TASKS_SQL = psycopg_sql(PAGE_TASKS)
INSERT_TASK_SQL = psycopg_sql(INSERT_TASK)

Reply = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]

app = Flask(__name__)
# gunicorn imports this module in each worker (no preload), so each worker has its own pool.
pool = ConnectionPool(DATABASE_URL, min_size=1, max_size=POOL_SIZE, open=True)

PROBLEM_JSON = {"Content-Type": "application/problem+json"}
UNAUTHORIZED: Reply = (
    problem(401, "Unauthorized", "Could not validate credentials."),
    401,
    {**PROBLEM_JSON, "WWW-Authenticate": "Bearer"},
)


def active_user(conn: Any) -> Any:
    user_id = user_id_from_authorization(request.headers.get("Authorization"))
    if user_id is None:
        return None
    user = conn.execute(SELECT_USER_SQL, (user_id,)).fetchone()
    return user if user is not None and user[4] else None


def invalid(exc: Exception) -> Reply:
    return problem(422, "Unprocessable Content", str(exc)), 422, PROBLEM_JSON


@app.get("/health")
def health() -> Reply:
    return {"status": "ok"}, 200


@app.get("/api/v1/tasks/<int:task_id>")
def get_task(task_id: int) -> Reply:
    with pool.connection() as conn:  # one transaction, committed on leaving the block
        user = active_user(conn)
        if user is None:
            return UNAUTHORIZED
        row = conn.execute(SELECT_TASK_SQL, (task_id, user[0])).fetchone()
    if row is None:
        return problem(404, "Not Found", f"Task {task_id} was not found."), 404, PROBLEM_JSON
    return task_json(row), 200


@app.get("/api/v1/tasks")
def list_tasks() -> Reply:
    try:
        limit, offset = paging(request.args)
    except Invalid as exc:
        return invalid(exc)
    with pool.connection() as conn:
        user = active_user(conn)
        if user is None:
            return UNAUTHORIZED
        (total,) = conn.execute(COUNT_TASKS_SQL, (user[0],)).fetchone() or (0,)
        rows = conn.execute(PAGE_TASKS_SQL, (user[0], limit, offset)).fetchall()
    items = [task_json(row) for row in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}, 200


@app.post("/api/v1/tasks")
def create_task() -> Reply:
    body = request.get_json(silent=True)
    if body is None:
        return problem(400, "Bad Request", "The body is not valid JSON."), 400, PROBLEM_JSON
    with pool.connection() as conn:
        user = active_user(conn)
        if user is None:
            return UNAUTHORIZED
        try:
            values = new_task_values(body, user[0])
        except Invalid as exc:
            return invalid(exc)
        row = conn.execute(INSERT_TASK_SQL, values).fetchone()
    assert row is not None
    return task_json(row), 201, {"Location": f"/api/v1/tasks/{row[0]}"}

"""Bare Flask + the SQLAlchemy ORM: flask_app.py with every query in a session.

The same requests as the psycopg baseline, through the layer the generated Flask service
must use (a Session per request on a psycopg engine with the service's pool settings), and
nothing else of the template: no Flask-SQLAlchemy, flask-smorest or marshmallow. Its distance
from flask_app.py is the ORM's price; the generated service's distance from it is the
template's and its libraries'.
Serve it like the generated service: `gunicorn -k gthread --threads T -w N flask_orm_app:app`.
"""

from __future__ import annotations

from typing import Any

from common import (
    DATABASE_URL,
    POOL_SIZE,
    Invalid,
    new_task_values,
    paging,
    problem,
    user_id_from_authorization,
)
from flask import Flask, request
from orm import Task, User, new_task, task_json
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

Reply = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]

app = Flask(__name__)
# The generated service's engine settings: pool size and a ping before each checkout.
engine = create_engine(
    DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1),
    pool_size=POOL_SIZE,
    pool_pre_ping=True,
)
sessions = sessionmaker(engine, expire_on_commit=False)

PROBLEM_JSON = {"Content-Type": "application/problem+json"}
UNAUTHORIZED: Reply = (
    problem(401, "Unauthorized", "Could not validate credentials."),
    401,
    {**PROBLEM_JSON, "WWW-Authenticate": "Bearer"},
)


def active_user(session: Session) -> User | None:
    user_id = user_id_from_authorization(request.headers.get("Authorization"))
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.is_active else None


def invalid(exc: Exception) -> Reply:
    return problem(422, "Unprocessable Content", str(exc)), 422, PROBLEM_JSON


@app.get("/health")
def health() -> Reply:
    return {"status": "ok"}, 200


@app.get("/api/v1/tasks/<int:task_id>")
def get_task(task_id: int) -> Reply:
    with sessions.begin() as session:  # one transaction, committed on leaving the block
        user = active_user(session)
        if user is None:
            return UNAUTHORIZED
        task = session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == user.id))
    if task is None:
        return problem(404, "Not Found", f"Task {task_id} was not found."), 404, PROBLEM_JSON
    return task_json(task), 200


@app.get("/api/v1/tasks")
def list_tasks() -> Reply:
    try:
        limit, offset = paging(request.args)
    except Invalid as exc:
        return invalid(exc)
    with sessions.begin() as session:
        user = active_user(session)
        if user is None:
            return UNAUTHORIZED
        matching = select(Task).where(Task.owner_id == user.id)
        total = session.scalar(select(func.count()).select_from(matching.subquery()))
        tasks = session.scalars(matching.order_by(Task.id).limit(limit).offset(offset))
        items = [task_json(task) for task in tasks]
    return {"items": items, "total": total, "limit": limit, "offset": offset}, 200


@app.post("/api/v1/tasks")
def create_task() -> Reply:
    body = request.get_json(silent=True)
    if body is None:
        return problem(400, "Bad Request", "The body is not valid JSON."), 400, PROBLEM_JSON
    with sessions.begin() as session:
        user = active_user(session)
        if user is None:
            return UNAUTHORIZED
        try:
            task = new_task(new_task_values(body, user.id))
        except Invalid as exc:
            return invalid(exc)
        session.add(task)
        session.flush()
        answer = task_json(task)
    return answer, 201, {"Location": f"/api/v1/tasks/{answer['id']}"}

"""What both bare baselines share: settings from the environment, SQL, validation, JSON shape.

The baselines do, by hand, the work the generated services do per request: decode the
bearer JWT (PyJWT, HS256, same secret and required claims), load the active user by id,
run the same query on the same tables, and answer the same JSON fields. Each request runs
in one transaction, like the generated services' session per request. Nothing else: no
request ids, no access log, no ORM, no schema library.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import jwt

SECRET_KEY = os.environ["SECRET_KEY"]
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "10"))
JWT_LEEWAY_SECONDS = int(os.environ.get("JWT_LEEWAY_SECONDS", "10"))

TASK_COLUMNS = "id, title, description, priority, done, owner_id, created_at, updated_at"
TASK_FIELDS = tuple(TASK_COLUMNS.split(", "))
PRIORITIES = frozenset({"low", "normal", "high"})

# The generated services' queries (SQLAlchemy's, written out), with $n / %s placeholders.
SELECT_USER = (
    "SELECT id, email, hashed_password, full_name, is_active, created_at FROM users WHERE id = {0}"
)
SELECT_TASK = f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = {{0}} AND owner_id = {{1}}"
COUNT_TASKS = "SELECT count(*) FROM (SELECT id FROM tasks WHERE owner_id = {0}) AS matching"
PAGE_TASKS = (
    f"SELECT {TASK_COLUMNS} FROM tasks WHERE owner_id = {{0}} ORDER BY id LIMIT {{1}} OFFSET {{2}}"
)
INSERT_TASK = (
    "INSERT INTO tasks (title, description, priority, done, owner_id, created_at, updated_at) "
    f"VALUES ({{0}}, {{1}}, {{2}}, {{3}}, {{4}}, {{5}}, {{6}}) RETURNING {TASK_COLUMNS}"
)


def asyncpg_sql(template: str) -> str:
    return template.format(*(f"${n}" for n in range(1, 10)))


def psycopg_sql(template: str) -> str:
    return template.format(*(["%s"] * 9))


class Invalid(ValueError):
    """The request is malformed: a 422."""


def user_id_from_authorization(header: str | None) -> int | None:
    """The user id a valid bearer token names, or None (a 401)."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        claims = jwt.decode(
            token,
            SECRET_KEY,
            algorithms=["HS256"],
            options={"require": ["exp", "iat", "sub"]},
            leeway=JWT_LEEWAY_SECONDS,
        )
    except jwt.PyJWTError:
        return None
    subject = claims["sub"]
    return int(subject) if isinstance(subject, str) and subject.isdigit() else None


def task_json(row: Any) -> dict[str, Any]:
    task = dict(zip(TASK_FIELDS, row, strict=True))
    task["created_at"] = task["created_at"].isoformat()
    task["updated_at"] = task["updated_at"].isoformat()
    return task


def new_task_values(body: Any, owner_id: int) -> tuple[Any, ...]:
    """Validate a create-task body as the generated schema does; the INSERT's parameters."""
    if not isinstance(body, dict):
        raise Invalid("body must be an object")
    title = body.get("title")
    if not isinstance(title, str) or not 1 <= len(title := title.strip()) <= 200:
        raise Invalid("title must be 1-200 characters")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 10_000):
        raise Invalid("description must be at most 10,000 characters")
    priority = body.get("priority", "normal")
    if priority not in PRIORITIES:
        raise Invalid("priority must be low, normal or high")
    done = body.get("done", False)
    if not isinstance(done, bool):
        raise Invalid("done must be a boolean")
    if "\x00" in title or (description and "\x00" in description):
        raise Invalid("text must not contain NUL")
    now = datetime.now(UTC)
    return title, description, priority, done, owner_id, now, now


def paging(args: Any) -> tuple[int, int]:
    """limit and offset from the query string, or Invalid (the benchmark sends no filters)."""
    try:
        limit = int(args.get("limit", 20))
        offset = int(args.get("offset", 0))
    except ValueError as exc:
        raise Invalid("limit and offset must be integers") from exc
    if not 1 <= limit <= 100 or offset < 0:
        raise Invalid("limit must be 1-100 and offset at least 0")
    return limit, offset


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}

import marshmallow as ma
from flask import url_for
from werkzeug.exceptions import NotFound

from ..api import Blueprint, problem_responses
from ..auth.decorators import auth_required, current_user
from . import service
from .models import Task
from .schemas import (
    MAX_ID,
    TaskCreate,
    TaskCreateSchema,
    TaskPageSchema,
    TaskQuery,
    TaskQuerySchema,
    TaskReadSchema,
    TaskUpdate,
    TaskUpdateSchema,
)

blp = Blueprint("tasks", __name__, url_prefix="/tasks", description="The current user's tasks.")

# Only digits match, so any other id is a 404 (as in FastAPI, whose `:int` convertor agrees).
TASK_URL = "/<int:task_id>"
LOCATION_HEADER = {"Location": {"description": "The new task's URL", "schema": {"type": "string"}}}


def _owned_task(task_id: int) -> Task:
    # Past PostgreSQL's integers no task exists, and the query would fail: a 404 unasked.
    task = service.get_task(current_user(), task_id) if task_id <= MAX_ID else None
    if task is None:
        raise NotFound(f"Task {task_id} was not found.")
    return task


@blp.route("", methods=["POST"])
@auth_required
@blp.arguments(TaskCreateSchema)
@blp.response(201, TaskReadSchema, description="The new task", headers=LOCATION_HEADER)
@problem_responses(400, 422)
def create_task(data: TaskCreate) -> tuple[Task, int, dict[str, str]]:
    """Create a task owned by the current user."""
    task = service.create_task(current_user(), data)
    return task, 201, {"Location": url_for(".read_task", task_id=task.id)}


@blp.route("", methods=["GET"])
@auth_required
# webargs would ignore unknown query parameters; a typo in a filter must not pass silently.
@blp.arguments(TaskQuerySchema, location="query", unknown=ma.RAISE)
@blp.response(200, TaskPageSchema, description="One page of tasks")
@problem_responses(422)
def list_tasks(query: TaskQuery) -> dict[str, object]:
    """The current user's tasks, filtered and paged, ordered by id."""
    tasks, total = service.list_tasks(current_user(), query)
    return {"items": tasks, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route(TASK_URL, methods=["GET"])
@auth_required
@blp.response(200, TaskReadSchema, description="The task")
@problem_responses(404, 422)
def read_task(task_id: int) -> Task:
    """One of the current user's tasks."""
    return _owned_task(task_id)


@blp.route(TASK_URL, methods=["PATCH"])
@auth_required
@blp.arguments(TaskUpdateSchema)
@blp.response(200, TaskReadSchema, description="The updated task")
@problem_responses(400, 404, 422)
def update_task(changes: TaskUpdate, task_id: int) -> Task:
    """Change the fields sent; `updated_at` moves."""
    return service.update_task(_owned_task(task_id), changes)


@blp.route(TASK_URL, methods=["DELETE"])
@auth_required
@blp.response(204, description="The task is deleted")
@problem_responses(404, 422)
def delete_task(task_id: int) -> None:
    """Delete one of the current user's tasks."""
    service.delete_task(_owned_task(task_id))

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from ..auth.dependencies import CurrentUser
from ..dependencies import SessionDep
from ..errors import problem_responses
from . import service
from .models import Task
from .schemas import TaskCreate, TaskPage, TaskQuery, TaskRead, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=problem_responses(401, 422))

# The `:int` convertor lets only digits reach a route, so any other id is a 404, as in Flask.
TASK_URL = "/{task_id:int}"
TaskId = Annotated[int, Path(ge=0)]
LOCATION_HEADER = {"Location": {"description": "The new task's URL", "schema": {"type": "string"}}}


async def _owned_task(session: SessionDep, user: CurrentUser, task_id: int) -> Task:
    task = await service.get_task(session, user, task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task {task_id} was not found.")
    return task


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_description="The new task",
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(400)},
)
async def create_task(
    data: TaskCreate, session: SessionDep, user: CurrentUser, request: Request, response: Response
) -> TaskRead:
    """Create a task owned by the current user."""
    task = await service.create_task(session, user, data)
    response.headers["Location"] = request.app.url_path_for("read_task", task_id=str(task.id))
    return TaskRead.model_validate(task)


@router.get("", response_description="One page of tasks")
async def list_tasks(
    query: Annotated[TaskQuery, Query()], session: SessionDep, user: CurrentUser
) -> TaskPage:
    """The current user's tasks, filtered and paged, ordered by id."""
    tasks, total = await service.list_tasks(session, user, query)
    return TaskPage(
        items=[TaskRead.model_validate(task) for task in tasks],
        total=total,
        limit=query.limit,
        offset=query.offset,
    )


@router.get(TASK_URL, response_description="The task", responses=problem_responses(404))
async def read_task(task_id: TaskId, session: SessionDep, user: CurrentUser) -> TaskRead:
    """One of the current user's tasks."""
    return TaskRead.model_validate(await _owned_task(session, user, task_id))


@router.patch(
    TASK_URL, response_description="The updated task", responses=problem_responses(400, 404)
)
async def update_task(
    task_id: TaskId, data: TaskUpdate, session: SessionDep, user: CurrentUser
) -> TaskRead:
    """Change the fields sent; `updated_at` moves."""
    task = await service.update_task(session, await _owned_task(session, user, task_id), data)
    return TaskRead.model_validate(task)


@router.delete(
    TASK_URL,
    status_code=status.HTTP_204_NO_CONTENT,
    response_description="The task is deleted",
    responses=problem_responses(404),
)
async def delete_task(task_id: TaskId, session: SessionDep, user: CurrentUser) -> None:
    """Delete one of the current user's tasks."""
    await service.delete_task(session, await _owned_task(session, user, task_id))

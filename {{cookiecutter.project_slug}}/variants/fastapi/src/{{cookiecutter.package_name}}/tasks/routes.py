from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status

from ..auth.dependencies import CurrentUser
from ..dependencies import SessionDep
from ..errors import problem_responses
from . import service
from .models import Task
from .schemas import TaskCreate, TaskPage, TaskQuery, TaskRead, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=problem_responses(401, 422))

# Ids are PostgreSQL integers: anything larger is simply not found, never a database error.
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]


async def _owned_task(session: SessionDep, user: CurrentUser, task_id: int) -> Task:
    task = await service.get_task(session, user, task_id)
    if task is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Task {task_id} was not found.")
    return task


@router.post("", status_code=status.HTTP_201_CREATED, responses=problem_responses(400))
async def create_task(
    data: TaskCreate, session: SessionDep, user: CurrentUser, request: Request, response: Response
) -> TaskRead:
    """Create a task owned by the current user."""
    task = await service.create_task(session, user, data)
    response.headers["Location"] = request.app.url_path_for("get_task", task_id=str(task.id))
    return TaskRead.model_validate(task)


@router.get("")
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


@router.get("/{task_id}", responses=problem_responses(404))
async def get_task(task_id: TaskId, session: SessionDep, user: CurrentUser) -> TaskRead:
    return TaskRead.model_validate(await _owned_task(session, user, task_id))


@router.patch("/{task_id}", responses=problem_responses(400, 404))
async def update_task(
    task_id: TaskId, data: TaskUpdate, session: SessionDep, user: CurrentUser
) -> TaskRead:
    """Change the fields sent; `updated_at` moves."""
    task = await service.update_task(session, await _owned_task(session, user, task_id), data)
    return TaskRead.model_validate(task)


@router.delete(
    "/{task_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problem_responses(404)
)
async def delete_task(task_id: TaskId, session: SessionDep, user: CurrentUser) -> None:
    await service.delete_task(session, await _owned_task(session, user, task_id))

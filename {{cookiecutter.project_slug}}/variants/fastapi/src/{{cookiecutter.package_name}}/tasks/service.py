"""Tasks: every query is scoped to the owner, so another user's task does not exist."""

from pydantic import MISSING
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth.models import User
from ..db import utcnow
from .models import Task
from .schemas import MAX_ID, TaskCreate, TaskQuery, TaskUpdate


async def create_task(session: AsyncSession, owner: User, data: TaskCreate) -> Task:
    task = Task(**data.model_dump(), owner_id=owner.id)
    session.add(task)
    await session.flush()
    return task


async def get_task(session: AsyncSession, owner: User, task_id: int) -> Task | None:
    """The owner's task with this id, or None (also when someone else owns it)."""
    if task_id > MAX_ID:
        return None
    return await session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner.id))


async def list_tasks(
    session: AsyncSession, owner: User, query: TaskQuery
) -> tuple[list[Task], int]:
    """One page of the owner's tasks ordered by id, and how many match in all."""
    matching = select(Task).where(Task.owner_id == owner.id)
    if query.done is not MISSING:
        matching = matching.where(Task.done == query.done)
    if query.priority is not MISSING:
        matching = matching.where(Task.priority == query.priority)
    # The total rides along on every row of the page: one query, not a count and a page.
    page = await session.execute(
        matching.add_columns(func.count().over())
        .order_by(Task.id)
        .limit(query.limit)
        .offset(query.offset)
    )
    rows = page.all()
    if rows:
        return [task for task, _ in rows], rows[0][1]
    if query.offset == 0:
        return [], 0
    # A page past the end has no row to carry the total: count apart.
    total = await session.scalar(select(func.count()).select_from(matching.subquery()))
    return [], total or 0


async def update_task(session: AsyncSession, task: Task, data: TaskUpdate) -> Task:
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(task, field, value)
    task.updated_at = utcnow()
    await session.flush()
    return task


async def delete_task(session: AsyncSession, task: Task) -> None:
    await session.delete(task)
    await session.flush()

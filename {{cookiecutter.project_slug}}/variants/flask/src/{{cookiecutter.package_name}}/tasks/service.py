"""Tasks: every query is scoped to the owner, so another user's task does not exist."""

from sqlalchemy import func, select

from ..auth.models import User
from ..db import db, utcnow
from .models import Task
from .schemas import TaskCreate, TaskQuery, TaskUpdate


def create_task(owner: User, data: TaskCreate) -> Task:
    task = Task(**data, owner_id=owner.id)
    db.session.add(task)
    db.session.flush()
    return task


def get_task(owner: User, task_id: int) -> Task | None:
    """The owner's task with this id, or None (also when someone else owns it)."""
    return db.session.scalar(select(Task).where(Task.id == task_id, Task.owner_id == owner.id))


def list_tasks(owner: User, query: TaskQuery) -> tuple[list[Task], int]:
    """One page of the owner's tasks ordered by id, and how many match in all."""
    matching = select(Task).where(Task.owner_id == owner.id)
    if "done" in query:
        matching = matching.where(Task.done == query["done"])
    if "priority" in query:
        matching = matching.where(Task.priority == query["priority"])
    # The total rides along on every row of the page: one query, not a count and a page.
    page = db.session.execute(
        matching.add_columns(func.count().over().label("total"))
        .order_by(Task.id)
        .limit(query["limit"])
        .offset(query["offset"])
    ).all()
    if page:
        return [task for task, _ in page], page[0].total
    # A page past the end has no rows to carry the total.
    total = db.session.scalar(select(func.count()).select_from(matching.subquery()))
    return [], total or 0


def update_task(task: Task, changes: TaskUpdate) -> Task:
    for field, value in changes.items():
        setattr(task, field, value)
    task.updated_at = utcnow()
    db.session.flush()
    return task


def delete_task(task: Task) -> None:
    db.session.delete(task)
    db.session.flush()

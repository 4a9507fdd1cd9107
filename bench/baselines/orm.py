"""What both ORM baselines share: the two tables mapped with SQLAlchemy's declarative ORM.

Only the columns, as plain as the ORM allows: no type decorators, enums, naming conventions
or relationships. The schema itself is the generated service's (its migration made it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from common import TASK_FIELDS
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    hashed_password: Mapped[str]
    full_name: Mapped[str | None]
    is_active: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None]
    priority: Mapped[str] = mapped_column(String(10))
    done: Mapped[bool]
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def task_json(task: Task) -> dict[str, Any]:
    data = {name: getattr(task, name) for name in TASK_FIELDS}
    data["created_at"] = task.created_at.isoformat()
    data["updated_at"] = task.updated_at.isoformat()
    return data


def new_task(values: tuple[Any, ...]) -> Task:
    """A Task from common.new_task_values' INSERT parameters."""
    title, description, priority, done, owner_id, created_at, updated_at = values
    return Task(
        title=title,
        description=description,
        priority=priority,
        done=done,
        owner_id=owner_id,
        created_at=created_at,
        updated_at=updated_at,
    )

from datetime import datetime
from typing import Annotated

from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ..schemas import reject_nul
from .models import Priority

# Ids and offsets are PostgreSQL integers: anything larger names nothing.
MAX_ID = 2**31 - 1

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(reject_nul),
]
Description = Annotated[str, Field(max_length=10_000), AfterValidator(reject_nul)]


class TaskCreate(BaseModel):
    title: Title
    description: Description | None = None
    priority: Priority = Priority.NORMAL
    done: bool = False


class TaskUpdate(BaseModel):
    """A partial update: only the fields sent change; null is allowed for the description only."""

    # MISSING: a field not sent is neither validated nor dumped, and not documented as nullable.
    title: Title | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    priority: Priority | MISSING = MISSING
    done: bool | MISSING = MISSING


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    priority: Priority
    done: bool
    owner_id: int
    created_at: datetime
    updated_at: datetime


class TaskQuery(BaseModel):
    """Filters and paging for the task list; unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")

    done: bool | MISSING = MISSING
    priority: Priority | MISSING = MISSING
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=MAX_ID)


class TaskPage(BaseModel):
    items: list[TaskRead]
    total: int
    limit: int
    offset: int

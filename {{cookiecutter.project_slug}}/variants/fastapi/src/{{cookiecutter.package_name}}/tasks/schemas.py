from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from ..schemas import reject_nul
from .models import Priority

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
    """A partial update: only the fields sent change."""

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    done: bool | None = None

    @field_validator("title", "priority", "done")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        # Omitting these fields keeps them; sending null for them is an error.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


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

    done: bool | None = None
    priority: Priority | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class TaskPage(BaseModel):
    items: list[TaskRead]
    total: int
    limit: int
    offset: int

"""What the task routes load and answer.

Each request schema loads the TypedDict of its name less `Schema` (`TaskCreateSchema` loads a
`TaskCreate`), which is also its OpenAPI component's name and the FastAPI variant's model's.
"""

from typing import Any, NotRequired, TypedDict

import marshmallow as ma

from ..schemas import Length, Range, RequestSchema, ResponseSchema, Text, Timestamp
from .models import Priority

# Ids and offsets are PostgreSQL integers: anything larger names nothing.
MAX_ID = 2**31 - 1


def title_field(**kwargs: Any) -> Text:
    return Text(strip=True, validate=Length(1, 200), **kwargs)


def description_field(**kwargs: Any) -> Text:
    return Text(allow_none=True, validate=Length(max=10_000), **kwargs)


class TaskCreate(TypedDict):
    title: str
    description: str | None
    priority: Priority
    done: bool


class TaskCreateSchema(RequestSchema):
    title = title_field(required=True)
    description = description_field(load_default=None)
    priority = ma.fields.Enum(Priority, by_value=True, load_default=Priority.NORMAL)
    done = ma.fields.Boolean(load_default=False)


class TaskUpdate(TypedDict, total=False):
    title: str
    description: str | None
    priority: Priority
    done: bool


class TaskUpdateSchema(RequestSchema):
    """A partial update: only the fields sent change; null is allowed for the description only."""

    title = title_field()
    description = description_field()
    priority = ma.fields.Enum(Priority, by_value=True)
    done = ma.fields.Boolean()


class TaskReadSchema(ResponseSchema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True, allow_none=True)
    priority = ma.fields.Enum(Priority, by_value=True, required=True)
    done = ma.fields.Boolean(required=True)
    owner_id = ma.fields.Integer(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class TaskQuery(TypedDict):
    done: NotRequired[bool]
    priority: NotRequired[Priority]
    limit: int
    offset: int


class TaskQuerySchema(RequestSchema):
    """Filters and paging for the task list (the route refuses unknown parameters)."""

    done = ma.fields.Boolean()
    priority = ma.fields.Enum(Priority, by_value=True)
    limit = ma.fields.Integer(load_default=20, validate=Range(1, 100))
    offset = ma.fields.Integer(load_default=0, validate=Range(0, MAX_ID))


class TaskPageSchema(ResponseSchema):
    items = ma.fields.List(ma.fields.Nested(TaskReadSchema), required=True)
    total = ma.fields.Integer(required=True)
    limit = ma.fields.Integer(required=True)
    offset = ma.fields.Integer(required=True)

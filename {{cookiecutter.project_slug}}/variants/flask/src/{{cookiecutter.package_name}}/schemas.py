"""Schema pieces shared by every feature.

Field errors speak as pydantic's do in the FastAPI variant (message and error type), so a
client reads the same 422 from either service.
"""

from collections.abc import Callable, Mapping, Sized
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import marshmallow as ma

# pydantic's error type for each of its messages, longest prefix first.
ERROR_TYPES = (
    ("Field required", "missing"),
    ("Extra inputs are not permitted", "extra_forbidden"),
    ("Input should be a valid dictionary", "model_attributes_type"),
    ("Input should be a valid string, unable to parse raw data", "string_unicode"),
    ("Input should be a valid string", "string_type"),
    ("Input should be a valid integer, unable to parse", "int_parsing"),
    ("Input should be a valid integer", "int_type"),
    ("Input should be a valid boolean, unable to interpret", "bool_parsing"),
    ("Input should be a valid boolean", "bool_type"),
    ("Input should be greater than or equal to", "greater_than_equal"),
    ("Input should be less than or equal to", "less_than_equal"),
    ("Input should be ", "enum"),
    ("String should have at least", "string_too_short"),
    ("String should have at most", "string_too_long"),
    ("JSON decode error", "json_invalid"),
)

# What each kind of field says, in pydantic's words; required and null apply to all.
FIELD_MESSAGES: dict[type[ma.fields.Field[Any]], dict[str, str]] = {
    ma.fields.Email: {"invalid": "value is not a valid email address"},
    ma.fields.String: {"invalid": "Input should be a valid string"},
    ma.fields.Integer: {
        "invalid": "Input should be a valid integer, unable to parse string as an integer",
        "null": "Input should be a valid integer",
    },
    ma.fields.Boolean: {
        "invalid": "Input should be a valid boolean, unable to interpret input",
        "null": "Input should be a valid boolean",
    },
}


def error_type(message: str) -> str:
    """pydantic's error type for a message in its words; `value_error` for our own checks."""
    return next((kind for start, kind in ERROR_TYPES if message.startswith(start)), "value_error")


def field_messages(field: ma.fields.Field[Any]) -> dict[str, str]:
    messages = {"required": "Field required"}
    if isinstance(field, ma.fields.Enum):
        *others, last = (repr(member.value) for member in field.enum)
        choices = f"Input should be {', '.join(others)} or {last}"
        return messages | {"unknown": choices, "null": choices, "invalid": choices}
    for kind, said in FIELD_MESSAGES.items():
        if isinstance(field, kind):
            return messages | {"null": said["invalid"]} | said
    return messages


class Length(ma.validate.Length):
    """A string's length, reported as pydantic reports it."""

    def __call__(self, value: Sized) -> Any:
        if self.min is not None and len(value) < self.min:
            plural = "" if self.min == 1 else "s"
            raise ma.ValidationError(f"String should have at least {self.min} character{plural}")
        if self.max is not None and len(value) > self.max:
            plural = "" if self.max == 1 else "s"
            raise ma.ValidationError(f"String should have at most {self.max} character{plural}")
        return value


class Range(ma.validate.Range):
    """An inclusive range, reported as pydantic reports it."""

    def __call__(self, value: Any) -> Any:
        if self.min is not None and value < self.min:
            raise ma.ValidationError(f"Input should be greater than or equal to {self.min}")
        if self.max is not None and value > self.max:
            raise ma.ValidationError(f"Input should be less than or equal to {self.max}")
        return value


class Text(ma.fields.String):
    """A string any database can store (no NUL, no lone surrogate), optionally stripped."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own convention
        "nul": "Value error, must not contain NUL characters",
        "surrogate": "Input should be a valid string, unable to parse raw data as a unicode string",
    }

    def __init__(self, *, strip: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strip = strip

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        # PostgreSQL text cannot hold NUL, so no database gets one: a 422, not a 500.
        if "\x00" in text:
            raise self.make_error("nul")
        # JSON may escape half a surrogate pair ("\ud800"); no driver can encode that.
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                raise self.make_error("surrogate") from None
        return text.strip() if self.strip else text


class Timestamp(ma.fields.DateTime):
    """RFC 3339 in UTC with a `Z`, as pydantic writes it: 2026-12-03T06:44:39.970213Z."""

    def _serialize(self, value: datetime | None, *_args: Any, **_kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RequestSchema(ma.Schema):
    """A request body, form or query: fields it does not declare are ignored, as pydantic does.

    Its errors use pydantic's words.
    """

    class Meta:
        unknown = ma.EXCLUDE

    error_messages = {  # noqa: RUF012 - marshmallow's own convention
        "unknown": "Extra inputs are not permitted",
        "type": "Input should be a valid dictionary or object to extract fields from",
    }

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        super().on_bind_field(field_name, field_obj)
        field_obj.error_messages.update(field_messages(field_obj))


# Fields whose values come out of our models already as JSON wants them.
_AS_IS: tuple[type[ma.fields.Field[Any]], ...] = (
    ma.fields.Integer,
    ma.fields.String,
    ma.fields.Boolean,
)


class ResponseSchema(ma.Schema):
    """A response body, dumped with one plain conversion per field.

    What a route returns comes from our own models, already of the declared types, with
    every field present: marshmallow's generic walk (accessors, per-field checks, converting
    an int to an int) is most of the cost of a page of tasks. Here each field is read once
    and converted only where JSON needs it (enums, timestamps, nested bodies). The declared
    fields still say what is dumped and document it (OpenAPI).
    """

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        if self.many if many is None else many:
            return [self._dump_one(item) for item in obj]
        return self._dump_one(obj)

    def _dump_one(self, obj: Any) -> dict[str, Any]:
        if isinstance(obj, Mapping):
            return {key: _convert(convert, obj[name]) for key, name, convert in self._plan}
        return {key: _convert(convert, getattr(obj, name)) for key, name, convert in self._plan}

    @cached_property
    def _plan(self) -> list[tuple[str, str, Callable[[Any], Any] | None]]:
        """(JSON key, attribute, conversion) of each field, worked out once per schema."""
        return [
            (field.data_key or name, field.attribute or name, _conversion(field))
            for name, field in self.dump_fields.items()
        ]


def _convert(convert: Callable[[Any], Any] | None, value: Any) -> Any:
    return value if convert is None or value is None else convert(value)


def _conversion(field: ma.fields.Field[Any]) -> Callable[[Any], Any] | None:
    """How a field's value becomes JSON; None when it already is."""
    if type(field) in _AS_IS:
        return None
    if isinstance(field, ma.fields.Nested):
        schema = field.schema
        return lambda value: schema.dump(value, many=field.many)
    if isinstance(field, ma.fields.List):
        inner = _conversion(field.inner)
        return lambda values: [_convert(inner, value) for value in values]
    if isinstance(field, ma.fields.Enum) and field.by_value is True:
        return lambda member: member.value
    return lambda value: field._serialize(value, None, None)  # the field's own (a Timestamp's)

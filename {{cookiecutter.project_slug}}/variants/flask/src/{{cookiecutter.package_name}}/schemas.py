"""Schema pieces shared by every feature."""

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma


class Text(ma.fields.String):
    """A string any database can store (no NUL, no lone surrogate), optionally stripped."""

    default_error_messages = {  # noqa: RUF012 - marshmallow's own convention
        "nul": "Must not contain NUL characters.",
        "surrogate": "Must be valid Unicode (no lone surrogates).",
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
    """A request body or form: fields it does not declare are ignored, as pydantic does."""

    class Meta:
        unknown = ma.EXCLUDE

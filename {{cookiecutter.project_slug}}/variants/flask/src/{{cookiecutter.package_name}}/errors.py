"""Every error answers RFC 9457 problem details (application/problem+json)."""

import json
import logging
import socket
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import marshmallow as ma
from flask import Flask, Response, request
from marshmallow.exceptions import SCHEMA
from sqlalchemy import exc as sa_exc

from .schemas import error_type

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
SERVER_ERROR_DETAIL = "The server could not complete the request."

# What a lost or overloaded database raises: a 503 the client may retry, not a 500.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.DBAPIError,  # only some of them: see is_database_unavailable
    sa_exc.TimeoutError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
)
# SQLSTATEs of a database that can't be reached, is out of connections or memory, or is
# shutting down or starting up: class 08, class 53, 57P01-57P03.
UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")

# webargs names the part of the request that failed; call them what FastAPI calls them.
LOCATIONS = {
    "json": "body",
    "form": "body",
    "files": "body",
    "query": "query",
    "querystring": "query",
    "headers": "header",
    "cookies": "cookie",
    "view_args": "path",
}


class FieldErrorSchema(ma.Schema):
    loc = ma.fields.List(
        ma.fields.Raw(metadata={"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        required=True,
    )
    msg = ma.fields.String(required=True)
    type = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details: the body of every error response."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.List(ma.fields.Nested(FieldErrorSchema))  # validation errors (422) only


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    # Built without the app, so the WSGI middleware can answer with it too.
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(
        json.dumps(body), status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def field_errors(messages: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per bad field, from webargs' {location: {field: [message, ...]}}."""
    errors = []
    for location, found in messages.items():
        where = LOCATIONS.get(location, location)
        # A list instead of a mapping: the part as a whole is bad (invalid JSON, say).
        by_field = found if isinstance(found, Mapping) else {SCHEMA: found}
        for name, problems in by_field.items():
            loc: list[str | int] = [where] if name == SCHEMA else [where, name]
            errors += _errors_at(loc, problems)
    return errors


def _errors_at(loc: list[str | int], problems: Any) -> list[dict[str, Any]]:
    if isinstance(problems, Mapping):  # a list item or a nested object: one level down
        return [
            error for key, inner in problems.items() for error in _errors_at([*loc, key], inner)
        ]
    # Our schemas speak pydantic's words; like pydantic, report a field's first failure.
    message = problems if isinstance(problems, str) else str(problems[0])
    return [{"loc": loc, "msg": message, "type": error_type(message)}]


def is_database_unavailable(error: BaseException | None) -> bool:
    """Whether the database was out of reach: never for a bad query or bad data."""
    if isinstance(error, sa_exc.DataError | sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return False
    if isinstance(error, sa_exc.DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return (
            error.connection_invalidated
            or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
            or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        )
    return isinstance(error, DATABASE_UNAVAILABLE)


def database_unavailable_response() -> Response:
    return problem_response(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


def handle_database_unavailable(error: Exception) -> Response:
    if not is_database_unavailable(error):
        raise error  # a bug, not an outage: Flask answers 500 and logs it
    logger.warning(
        "Database unavailable on %s %s: %s", request.method, request.path, type(error).__name__
    )
    return database_unavailable_response()


def register_error_handlers(app: Flask) -> None:
    """Errors that are not HTTP errors; api.ProblemApi answers those (and every unhandled 500)."""
    for unavailable in DATABASE_UNAVAILABLE:
        app.register_error_handler(unavailable, handle_database_unavailable)

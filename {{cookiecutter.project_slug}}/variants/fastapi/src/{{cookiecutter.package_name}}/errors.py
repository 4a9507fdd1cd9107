"""Every error answers RFC 9457 problem details (application/problem+json)."""

import logging
import socket
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import MISSING, BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException

logger = logging.getLogger(__name__)

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


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | MISSING = MISSING  # validation errors (422) only


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in statuses
    }


async def handle_http_exception(_request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, headers=exc.headers)


def is_database_unavailable(exc: Exception) -> bool:
    """Whether the database was out of reach: never for a bad query or bad data."""
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return False
    if isinstance(exc, sa_exc.DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None) or ""
        return (
            exc.connection_invalidated
            or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
            or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
        )
    return isinstance(exc, DATABASE_UNAVAILABLE)


async def handle_database_unavailable(request: Request, exc: Exception) -> ProblemResponse:
    if not is_database_unavailable(exc):
        raise exc  # a bug, not an outage: the last-resort handler answers 500 and logs it
    logger.warning(
        "Database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return problem_response(
        503, "The database is unavailable; try again shortly.", headers={"Retry-After": "5"}
    )


async def handle_validation_error(_request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    errors = [
        {
            "loc": [str(part) if not isinstance(part, int) else part for part in error["loc"]],
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    detail = f"The request is invalid: {len(errors)} error(s)."
    return problem_response(422, detail, errors=jsonable_encoder(errors))


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, handle_http_exception)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, handle_database_unavailable)


def add_problem_schema(openapi_schema: dict[str, Any]) -> None:
    """Add the Problem schema that the error responses above refer to."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = openapi_schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem

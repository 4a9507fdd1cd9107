"""flask-smorest's Api and Blueprint, as the app and every feature use them.

The Api answers and documents every error as problem details. The Blueprint's request
parser knows that JSON nested too deeply for Python's parser is malformed JSON
(a 400, not a RecursionError's 500); its operations are named and described as the FastAPI
variant's are, so both publish one OpenAPI document.
"""

import inspect
import json
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import Request, Response
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser, abort
from werkzeug.exceptions import HTTPException

from .errors import (
    PROBLEM_CONTENT_TYPE,
    SERVER_ERROR_DETAIL,
    ProblemSchema,
    database_unavailable_response,
    field_errors,
    is_database_unavailable,
    problem_response,
)


def title(name: str) -> str:
    """pydantic's title for a name: `owner_id` is "Owner Id"."""
    return name.title().replace("_", " ")


NOT_AN_OBJECT = "Input should be a valid dictionary or object to extract fields from"


class RequestParser(FlaskParser):
    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        try:
            data = super().load_json(req, schema)
        except RecursionError:
            abort(400, messages={"json": ["The JSON body is nested too deeply."]})
        if data is ma.missing:
            # As FastAPI answers: the body is required, and must be a JSON object.
            if req.get_data(cache=True):
                abort(422, messages={"json": [NOT_AN_OBJECT]})
            abort(422, messages={"json": ["Field required"]})
        return data

    def _handle_invalid_json_error(self, error: Exception, *_args: Any, **_kwargs: Any) -> NoReturn:
        # A 422 at the character where parsing failed, as FastAPI answers.
        position = error.pos if isinstance(error, json.JSONDecodeError) else 0
        abort(422, messages={"json": {position: ["JSON decode error"]}})


class ProblemApi(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api, answering and documenting every error as problem details."""

    ERROR_SCHEMA = ProblemSchema
    # Every route documents the errors it can answer; no catch-all "default" response.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        # webargs' abort() attaches the validation messages and the schema that failed.
        data: Mapping[str, Any] = getattr(error, "data", None) or {}
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        if "messages" in data:
            errors = field_errors(data["messages"])
            if status == 422:
                detail = f"The request is invalid: {len(errors)} error(s)."
                return problem_response(status, detail, errors=errors, headers=headers)
            detail = " ".join(error["msg"] for error in errors)
        elif status == 500 and is_database_unavailable(getattr(error, "original_exception", None)):
            # Raised outside the view (the commit in an after_request handler): still an outage.
            return database_unavailable_response()
        elif status >= 500:
            detail = SERVER_ERROR_DETAIL
        else:
            # werkzeug's stock sentences (no route for this URL, say) add nothing to the phrase.
            own = error.description if error.description != type(error).description else None
            detail = data.get("message") or own or HTTPStatus(status).phrase
        return problem_response(status, detail, headers=headers)

    def _register_pagination_header(self) -> None:
        # No route uses flask-smorest's pagination (the task list answers a page object).
        pass

    def _register_responses(self) -> None:
        # flask-smorest documents its error responses as application/json; ours are problem+json.
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = RequestParser()

    def _store_endpoint_docs(self, endpoint: str, obj: Any, *args: Any, **kwargs: Any) -> None:
        # As FastAPI does: the operation is named after its view, the docstring describes it.
        super()._store_endpoint_docs(endpoint, obj, *args, **kwargs)
        about = {"operationId": obj.__name__, "summary": title(obj.__name__)}
        if obj.__doc__:
            about["description"] = inspect.cleandoc(obj.__doc__)
        for method, doc in self._docs[endpoint].items():
            if method != "parameters":
                doc["docstring"] = about


# Routes anyone may call say so, rather than leave a reader to guess.
public: Callable[[Any], Any] = Blueprint.doc(security=[])


def problem_responses(*statuses: int) -> Callable[[Any], Any]:
    """Document the problem details a route can answer (FastAPI's `responses=` twin)."""
    responses = {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": ProblemSchema}},
        }
        for status in statuses
    }
    documented: Callable[[Any], Any] = Blueprint.doc(responses=responses)
    return documented

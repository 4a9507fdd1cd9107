"""flask-smorest's Blueprint, as every feature uses it.

Its request parser knows that JSON nested too deeply for Python's parser is malformed JSON
(a 400, not a RecursionError's 500); its operations are named and described as the FastAPI
variant's are, so both publish one OpenAPI document.
"""

import inspect
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, NoReturn

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser, abort

from .errors import PROBLEM_CONTENT_TYPE, ProblemSchema


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

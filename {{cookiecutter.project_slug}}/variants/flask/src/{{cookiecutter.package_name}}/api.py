"""flask-smorest's Blueprint, as every feature uses it: its request parser knows that JSON
nested too deeply for Python's parser is malformed JSON (a 400, not a RecursionError's 500)."""

from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser, abort


class RequestParser(FlaskParser):
    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        try:
            return super().load_json(req, schema)
        except RecursionError:
            abort(400, messages={"json": ["The JSON body is nested too deeply."]})


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    ARGUMENTS_PARSER = RequestParser()

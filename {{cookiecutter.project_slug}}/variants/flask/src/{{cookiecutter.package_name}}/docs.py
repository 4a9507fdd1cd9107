"""The OpenAPI document, Swagger UI and ReDoc, with every asset served by the app (no CDN)."""

import inspect
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Blueprint, Response, send_file, send_from_directory
from openapi_ui_bundles import redoc
from werkzeug.exceptions import NotFound

from . import DESCRIPTION, LICENSE, PROJECT_NAME, VERSION
from .api import title
from .auth.decorators import TOKEN_URL
from .settings import Settings

ASSETS_URL = "/static-offline-docs"
SWAGGER_UI = Path(str(files("flask_swagger_ui") / "dist"))  # Swagger UI 5
ASSET_FOLDERS = (SWAGGER_UI, redoc.static_path)  # ReDoc 2
# ReDoc 2 loads the logo of its "API docs by Redocly" link from Redocly's CDN; an empty
# image in its place keeps the page on this host.
REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"

assets = Blueprint("docs_assets", __name__)


@cache
def offline_redoc() -> bytes:
    """The bundled ReDoc with its one CDN address replaced."""
    bundle = Path(redoc.static_path) / "redoc.standalone.js"
    return bundle.read_bytes().replace(REDOC_LOGO_URL, EMPTY_IMAGE)


@assets.get("/favicon.ico")
def favicon() -> Response:
    # flask-smorest's pages name no icon, so browsers ask for this one.
    return send_file(SWAGGER_UI / "favicon-32x32.png", mimetype="image/png")


@assets.get(f"{ASSETS_URL}/<path:filename>")
def asset(filename: str) -> Response:
    if filename == "redoc.standalone.js":
        return Response(offline_redoc(), mimetype="text/javascript")
    for folder in ASSET_FOLDERS:
        if (folder / filename).is_file():
            return send_from_directory(folder, filename)
    raise NotFound


def openapi_config(settings: Settings) -> dict[str, Any]:
    """flask-smorest's settings: /openapi.json, Swagger UI at /docs and ReDoc at /redoc."""
    config: dict[str, Any] = {
        "API_TITLE": PROJECT_NAME,
        "API_VERSION": VERSION,
        "OPENAPI_VERSION": "3.1.0",
        # Servers: relative to wherever the document is served, the service itself.
        "API_SPEC_OPTIONS": {
            "info": {"description": DESCRIPTION, "license": license_info()},
            "servers": [{"url": "/"}],
        },
        "OPENAPI_URL_PREFIX": None,
    }
    if settings.docs_enabled:
        config |= {
            "OPENAPI_URL_PREFIX": "/",
            "OPENAPI_JSON_PATH": "openapi.json",
            "OPENAPI_SWAGGER_UI_PATH": "/docs",
            "OPENAPI_SWAGGER_UI_URL": f"{ASSETS_URL}/",
            "OPENAPI_REDOC_PATH": "/redoc",
            "OPENAPI_REDOC_URL": f"{ASSETS_URL}/redoc.standalone.js",
        }
    return config


def license_info() -> dict[str, str]:
    """The project's license; MIT and Apache-2.0 are SPDX identifiers, "Proprietary" is not."""
    return {"name": LICENSE} | ({"identifier": LICENSE} if LICENSE != "Proprietary" else {})


def bearer_scheme() -> dict[str, Any]:
    """The OAuth2 password flow: Swagger UI's "Authorize" asks for an email and password."""
    return {"type": "oauth2", "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}}}


def spec_kwargs() -> dict[str, Any]:
    """apispec's plugins for flask-smorest: the document reads as the FastAPI variant's does."""
    return {"marshmallow_plugin": SchemaPlugin(), "extra_plugins": [OperationParametersPlugin()]}


class SchemaConverter(OpenAPIConverter):
    """Renders marshmallow schemas as pydantic renders the FastAPI variant's models.

    Titles, descriptions from docstrings, `anyOf` for nullable fields, enums as their own
    components, literals as `const`: clients generated from either variant's document agree.
    """

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        jsonschema: dict[str, Any] = super().schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        schema_cls = resolve_schema_cls(schema)
        # pydantic documents neither; its request models ignore unknown fields, as ours do.
        jsonschema.pop("additionalProperties", None)
        jsonschema["title"] = self.schema_name_resolver(schema_cls)
        if schema_cls.__doc__:
            jsonschema["description"] = inspect.cleandoc(schema_cls.__doc__)
        return jsonschema

    def fields2jsonschema(self, fields: Any, *, partial: Any = None) -> dict[str, Any]:
        jsonschema: dict[str, Any] = super().fields2jsonschema(  # type: ignore[no-untyped-call]
            fields, partial=partial
        )
        if "required" in jsonschema:  # in declaration order, as pydantic lists them
            names = [field.data_key or name for name, field in fields.items()]
            jsonschema["required"].sort(key=names.index)
        return jsonschema

    def field2property(self, field: ma.fields.Field[Any]) -> dict[str, Any]:
        if isinstance(field, ma.fields.Enum):
            prop = self.enum2ref(field)
        elif isinstance(field, ma.fields.Constant):
            prop = {"const": field.constant, "type": "string"}
            if not field.required:
                prop["default"] = field.constant
        else:
            prop = super().field2property(field)
        if not isinstance(field.parent, ma.Schema):  # an item of a list: no title
            return prop
        types = prop.get("type")
        if isinstance(types, list) and "null" in types:
            outer: dict[str, Any] = {
                key: prop.pop(key) for key in ("default", "description") if key in prop
            }
            if outer.get("default", ...) is None:  # FastAPI leaves every null out of its document
                del outer["default"]
            prop["type"] = next(kind for kind in types if kind != "null")
            prop = {"anyOf": [prop, {"type": "null"}], **outer}
        if "$ref" not in prop and field.name:
            prop["title"] = title(field.name)
        return prop

    def enum2ref(self, field: ma.fields.Enum[Any]) -> dict[str, Any]:
        """A reference to the enum's own component, registered on first use."""
        name = field.enum.__name__
        if name not in self.spec.components.schemas:
            values = [member.value for member in field.enum]
            self.spec.components.schema(name, {"enum": values, "title": name, "type": "string"})
        ref = {"$ref": f"#/components/schemas/{name}"}
        prop: dict[str, Any] = {"anyOf": [ref, {"type": "null"}]} if field.allow_none else ref
        if field.load_default is not ma.missing and field.load_default is not None:
            prop["default"] = field.load_default.value
        return prop


class SchemaPlugin(MarshmallowPlugin):
    Converter = SchemaConverter


class OperationParametersPlugin(BasePlugin):
    """Path parameters in each operation, titled, as FastAPI documents them."""

    def path_helper(
        self,
        path: str | None = None,  # noqa: ARG002 - apispec passes it by name
        operations: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        **_kwargs: Any,
    ) -> None:
        if not parameters or operations is None:
            return
        for parameter in parameters:
            parameter["schema"]["title"] = title(parameter["name"])
        for operation in operations.values():
            operation["parameters"] = [*parameters, *operation.get("parameters", [])]
        parameters.clear()

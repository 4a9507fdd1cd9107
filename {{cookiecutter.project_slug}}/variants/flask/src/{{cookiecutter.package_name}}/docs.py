"""The OpenAPI document, Swagger UI and ReDoc, with every asset served by the app (no CDN)."""

from importlib.resources import files
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, send_from_directory
from openapi_ui_bundles import redoc
from werkzeug.exceptions import NotFound

from . import DESCRIPTION, PROJECT_NAME, VERSION
from .auth.dependencies import TOKEN_URL
from .settings import Settings

ASSETS_URL = "/static-offline-docs"
ASSET_FOLDERS = (
    Path(str(files("flask_swagger_ui") / "dist")),  # Swagger UI 5
    redoc.static_path,  # ReDoc 2
)

assets = Blueprint("docs_assets", __name__, url_prefix=ASSETS_URL)


@assets.get("/<path:filename>")
def asset(filename: str) -> Response:
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
        "API_SPEC_OPTIONS": {"info": {"description": DESCRIPTION}},
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


def bearer_scheme() -> dict[str, Any]:
    """The OAuth2 password flow: Swagger UI's "Authorize" asks for an email and password."""
    return {"type": "oauth2", "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}}}

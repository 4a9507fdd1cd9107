"""The OpenAPI document, Swagger UI and ReDoc, with every asset served by the app (no CDN)."""

from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, send_file, send_from_directory
from openapi_ui_bundles import redoc
from werkzeug.exceptions import NotFound

from . import DESCRIPTION, PROJECT_NAME, VERSION
from .auth.dependencies import TOKEN_URL
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

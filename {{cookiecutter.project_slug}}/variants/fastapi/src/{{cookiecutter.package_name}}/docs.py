"""The API's documentation: what the OpenAPI document says beyond the routes (the Flask
variant publishes the same), and Swagger UI at /docs and ReDoc at /redoc with every asset
served by the app, no CDN (FastAPI's "Self-hosting JavaScript and CSS for docs" recipe, with
the asset files that fastapi-offline ships).
"""

from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute

from . import LICENSE

# The project's license; MIT and Apache-2.0 are SPDX identifiers, "Proprietary" is not.
LICENSE_INFO = {"name": LICENSE} | ({"identifier": LICENSE} if LICENSE != "Proprietary" else {})
# Relative to wherever the document is served: the service itself.
SERVERS = [{"url": "/"}]
# Routes anyone may call say so, rather than leave a reader to guess.
PUBLIC: dict[str, Any] = {"security": []}


def operation_id(route: APIRoute) -> str:
    """Each operation is named after its endpoint function: short, stable, the same in Flask."""
    return route.name


ASSETS_URL = "/static-offline-docs"
ASSETS = Path(fastapi_offline.__file__).parent / "static"
# ReDoc 2 loads the logo of its "API docs by Redocly" link from Redocly's CDN; an empty
# image in its place keeps the page on this host.
REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"

router = APIRouter(include_in_schema=False)


@cache
def offline_redoc() -> bytes:
    """The bundled ReDoc with its one CDN address replaced."""
    return (ASSETS / "redoc.standalone.js").read_bytes().replace(REDOC_LOGO_URL, EMPTY_IMAGE)


@router.get(ASSETS_URL + "/{filename}")
def asset(filename: str) -> Response:
    if filename == "redoc.standalone.js":
        return Response(offline_redoc(), media_type="text/javascript")
    if not (ASSETS / filename).is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND)
    return FileResponse(ASSETS / filename)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(ASSETS / "favicon.png", media_type="image/png")


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}{app.swagger_ui_oauth2_redirect_url}",
        init_oauth=app.swagger_ui_init_oauth,
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}/favicon.ico",
        with_google_fonts=False,
    )

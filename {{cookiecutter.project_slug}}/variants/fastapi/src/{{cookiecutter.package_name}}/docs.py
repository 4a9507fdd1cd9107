"""What the OpenAPI document says beyond the routes; the Flask variant publishes the same."""

from typing import Any

from fastapi.routing import APIRoute

from . import LICENSE

# In the order the Flask variant registers its blueprints, so both documents list them alike.
OPENAPI_TAGS: list[dict[str, Any]] = [
    {"name": "health", "description": "Probes for the platform."},
    {"name": "auth", "description": "Accounts and access tokens."},
    {"name": "users", "description": "The current user."},
    {"name": "tasks", "description": "The current user's tasks."},
]

# The project's license; MIT and Apache-2.0 are SPDX identifiers, "Proprietary" is not.
LICENSE_INFO = {"name": LICENSE} | ({"identifier": LICENSE} if LICENSE != "Proprietary" else {})
# Relative to wherever the document is served: the service itself.
SERVERS = [{"url": "/"}]
# Routes anyone may call say so, rather than leave a reader to guess.
PUBLIC: dict[str, Any] = {"security": []}


def operation_id(route: APIRoute) -> str:
    """Each operation is named after its endpoint function: short, stable, the same in Flask."""
    return route.name

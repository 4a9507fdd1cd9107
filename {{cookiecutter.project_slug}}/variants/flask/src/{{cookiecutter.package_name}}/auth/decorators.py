"""@auth_required and current_user(): a bearer token in, an active user out, or a 401.

Also throttle_login(), for the token route.
"""

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import TooManyRequests, Unauthorized

from ..api import Blueprint, problem_responses
from ..security import InvalidTokenError, decode_access_token
from ..settings import get_settings
from .models import User
from .service import get_active_user
from .throttle import login_throttle

P = ParamSpec("P")
R = TypeVar("R")

# The security scheme's name in the OpenAPI document (the same as FastAPI's).
BEARER_SCHEME = "OAuth2PasswordBearer"
TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 - a URL, not a secret


def unauthorized(detail: str) -> Unauthorized:
    """A 401 that asks for a bearer token."""
    return Unauthorized(detail, www_authenticate=WWWAuthenticate("Bearer"))


def authenticate_request() -> User:
    """The active user whose bearer token came with this request; a 401 otherwise."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("Not authenticated")
    try:
        subject = decode_access_token(token, get_settings())
    except InvalidTokenError as exc:
        raise unauthorized("Could not validate credentials.") from exc
    user = get_active_user(int(subject))
    if user is None:
        raise unauthorized("Could not validate credentials.")
    return user


def auth_required(view: Callable[P, R]) -> Callable[P, R]:
    """Run the view only for a valid bearer token; inside it, current_user() is its user."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.current_user = authenticate_request()
        return view(*args, **kwargs)

    # Documented, so Swagger UI's "Authorize" sends the token to these routes.
    documented: Callable[P, R] = problem_responses(401)(
        Blueprint.doc(security=[{BEARER_SCHEME: []}])(wrapper)
    )
    return documented


def current_user() -> User:
    """The user whose token let the request through @auth_required."""
    user: User | None = g.get("current_user")
    if user is None:
        raise RuntimeError("current_user() needs a view decorated with @auth_required")
    return user


def throttle_login(username: str) -> None:
    """Answer 429 once a client has tried one username too often."""
    retry_after = login_throttle.retry_after(request.remote_addr or "unknown", username)
    if retry_after is not None:
        raise TooManyRequests("Too many login attempts; try again later.", retry_after=retry_after)

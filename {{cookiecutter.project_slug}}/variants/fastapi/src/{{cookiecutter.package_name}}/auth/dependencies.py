"""CurrentUser (a bearer token in, an active user out, or a 401) and login throttling."""

from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from ..dependencies import SessionDep, SettingsDep
from ..security import InvalidTokenError, decode_access_token
from .models import User
from .schemas import LoginForm
from .service import get_active_user

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token")


async def get_current_user(
    token: Annotated[str, Depends(oauth2_scheme)], session: SessionDep, settings: SettingsDep
) -> User:
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials.",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        subject = decode_access_token(token, settings)
    except InvalidTokenError as exc:
        raise unauthorized from exc
    user = await get_active_user(session, int(subject))
    if user is None:
        raise unauthorized
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def throttled_login_form(request: Request, form: Annotated[LoginForm, Form()]) -> LoginForm:
    """The login form; a 429 instead once a client has tried one username too often."""
    client = request.client.host if request.client else "unknown"
    retry_after = await request.state.login_throttle.retry_after(client, form.username)
    if retry_after is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "Too many login attempts; try again later.",
            headers={"Retry-After": str(retry_after)},
        )
    return form

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from ..dependencies import SessionDep, SettingsDep
from ..docs import PUBLIC
from ..errors import problem_responses
from ..security import create_access_token
from .dependencies import CurrentUser, throttled_login_form
from .schemas import LoginForm, Token, UserCreate, UserRead
from .service import EmailAlreadyRegisteredError, authenticate_user, register_user

router = APIRouter(prefix="/auth", tags=["auth"], responses=problem_responses(400, 422))
users_router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_description="The new user",
    responses=problem_responses(409),
    openapi_extra=PUBLIC,
)
async def register(data: UserCreate, session: SessionDep) -> UserRead:
    """Create an account. The email is stored lower-cased and must be unused."""
    try:
        user = await register_user(session, data)
    except EmailAlreadyRegisteredError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, "This email is already registered.") from exc
    return UserRead.model_validate(user)


@router.post(
    "/token",
    response_description="A bearer token",
    responses=problem_responses(401, 429),
    openapi_extra=PUBLIC,
)
async def login(
    form: Annotated[LoginForm, Depends(throttled_login_form)],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """Exchange an email (as `username`) and password for a bearer token."""
    user = await authenticate_user(session, form.username, form.password)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Incorrect email or password.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    access = create_access_token(str(user.id), settings)
    return Token(
        access_token=access.token,
        token_type="bearer",  # noqa: S106 - a token type, not a secret
        expires_in=access.expires_in,
    )


@users_router.get("/me", response_description="The user", responses=problem_responses(401))
async def read_current_user(user: CurrentUser) -> UserRead:
    """The user the bearer token belongs to."""
    return UserRead.model_validate(user)

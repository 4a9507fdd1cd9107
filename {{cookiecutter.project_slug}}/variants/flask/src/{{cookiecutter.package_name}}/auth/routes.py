from werkzeug.exceptions import Conflict

from ..api import Blueprint, problem_responses, public
from ..security import create_access_token
from ..settings import get_settings
from .decorators import auth_required, current_user, throttle_login, unauthorized
from .models import User
from .schemas import (
    LoginForm,
    LoginFormSchema,
    TokenSchema,
    UserCreate,
    UserCreateSchema,
    UserReadSchema,
)
from .service import EmailAlreadyRegisteredError, authenticate_user, register_user

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Accounts and access tokens.")
users_blp = Blueprint("users", __name__, url_prefix="/users", description="The current user.")


@blp.route("/register", methods=["POST"])
@public
@blp.arguments(UserCreateSchema)
@blp.response(201, UserReadSchema, description="The new user")
@problem_responses(400, 409, 422)
def register(data: UserCreate) -> User:
    """Create an account. The email is stored lower-cased and must be unused."""
    try:
        return register_user(data)
    except EmailAlreadyRegisteredError as exc:
        raise Conflict("This email is already registered.") from exc


@blp.route("/token", methods=["POST"])
@public
@blp.arguments(LoginFormSchema, location="form")
@blp.response(200, TokenSchema, description="A bearer token")
@problem_responses(400, 401, 422, 429)
def login(form: LoginForm) -> dict[str, object]:
    """Exchange an email (as `username`) and password for a bearer token."""
    throttle_login(form["username"])
    user = authenticate_user(form["username"], form["password"])
    if user is None:
        raise unauthorized("Incorrect email or password.")
    access = create_access_token(str(user.id), get_settings())
    return {"access_token": access.token, "token_type": "bearer", "expires_in": access.expires_in}


@users_blp.route("/me", methods=["GET"])
@auth_required
@users_blp.response(200, UserReadSchema, description="The user")
def read_current_user() -> User:
    """The user the bearer token belongs to."""
    return current_user()

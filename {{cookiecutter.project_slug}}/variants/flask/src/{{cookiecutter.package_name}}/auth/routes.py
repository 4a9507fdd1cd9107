from werkzeug.exceptions import Conflict

from ..api import Blueprint
from ..security import create_access_token
from ..settings import get_settings
from .dependencies import auth_required, current_user, throttle_login, unauthorized
from .models import User
from .schemas import (
    NewUser,
    TokenRequest,
    TokenRequestSchema,
    TokenSchema,
    UserCreateSchema,
    UserSchema,
)
from .service import EmailAlreadyRegisteredError, authenticate_user, register_user

blp = Blueprint("auth", __name__, url_prefix="/auth", description="Accounts and access tokens.")
users_blp = Blueprint("users", __name__, url_prefix="/users", description="The current user.")


@blp.route("/register", methods=["POST"])
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@blp.alt_response(400, response="BAD_REQUEST")
@blp.alt_response(409, response="CONFLICT")
def register(data: NewUser) -> User:
    """Create an account. The email is stored lower-cased and must be unused."""
    try:
        return register_user(data)
    except EmailAlreadyRegisteredError as exc:
        raise Conflict("This email is already registered.") from exc


@blp.route("/token", methods=["POST"])
@blp.arguments(TokenRequestSchema, location="form")
@blp.response(200, TokenSchema)
@blp.alt_response(400, response="BAD_REQUEST")
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def login(form: TokenRequest) -> dict[str, object]:
    """Exchange an email (as `username`) and password for a bearer token."""
    throttle_login(form["username"])
    user = authenticate_user(form["username"], form["password"])
    if user is None:
        raise unauthorized("Incorrect email or password.")
    access = create_access_token(str(user.id), get_settings())
    return {"access_token": access.token, "token_type": "bearer", "expires_in": access.expires_in}


@users_blp.route("/me", methods=["GET"])
@auth_required
@users_blp.response(200, UserSchema)
def read_me() -> User:
    """The user the bearer token belongs to."""
    return current_user()

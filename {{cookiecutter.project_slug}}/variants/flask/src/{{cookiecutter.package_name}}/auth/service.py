"""Users: registration, authentication and lookup."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import db
from ..security import dummy_password_hash, hash_password, verify_password
from .models import User
from .schemas import UserCreate, normalize_email


class EmailAlreadyRegisteredError(Exception):
    """Another user holds this email address."""


def get_user_by_email(email: str) -> User | None:
    """The user with this address, however it is spelt (see normalize_email)."""
    try:
        normalized = normalize_email(email)
    except ValueError:
        return None  # no registered address is spelt like this
    return db.session.scalar(select(User).where(User.email == normalized))


def register_user(data: UserCreate) -> User:
    """Create a user; raise EmailAlreadyRegisteredError when the email is taken."""
    if get_user_by_email(data["email"]) is not None:
        raise EmailAlreadyRegisteredError(data["email"])
    user = User(
        email=data["email"],
        hashed_password=hash_password(data["password"]),
        full_name=data["full_name"],
    )
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailAlreadyRegisteredError(data["email"]) from exc
    return user


def authenticate_user(email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None.

    An unknown email costs the same hash verification as a wrong password.
    """
    user = get_user_by_email(email)
    hashed = user.hashed_password if user is not None else dummy_password_hash()
    password_ok = verify_password(password, hashed)
    if user is None or not password_ok or not user.is_active:
        return None
    return user


def get_active_user(user_id: int) -> User | None:
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None

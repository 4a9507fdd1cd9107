"""Password hashing (argon2id) and access tokens (JWT, HS256)."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from .settings import Settings

ALGORITHM = "HS256"
# Subjects are user ids, which are PostgreSQL integers: anything else names no user.
USER_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_USER_ID = 2**31 - 1

password_hash = PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    return password_hash.verify(password, hashed)


@cache
def dummy_password_hash() -> str:
    """A hash to verify against for unknown users, so both login paths cost the same."""
    return hash_password("not the password of any user")


class InvalidTokenError(Exception):
    """The token is missing a claim, expired, tampered with or signed with another key."""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def create_access_token(subject: str, settings: Settings) -> AccessToken:
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    claims = {"sub": subject, "iat": now, "exp": now + lifetime}
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


def decode_access_token(token: str, settings: Settings) -> str:
    """Return the token's subject, a user id, or raise InvalidTokenError."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
            leeway=settings.jwt_leeway_seconds,
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    subject = claims["sub"]
    if not isinstance(subject, str) or not USER_ID.fullmatch(subject):
        raise InvalidTokenError("the subject claim is not a user id")
    if int(subject) > MAX_USER_ID:
        raise InvalidTokenError("the subject claim is out of range")
    return subject

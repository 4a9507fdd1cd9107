"""Users: registration, authentication and lookup."""

from anyio import to_thread
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..security import dummy_password_hash, hash_password, verify_password
from .models import User
from .schemas import UserCreate, normalize_email


class EmailAlreadyRegisteredError(Exception):
    """Another user holds this email address."""


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this address, however it is spelt (see normalize_email)."""
    try:
        normalized = normalize_email(email)
    except ValueError:
        return None  # no registered address is spelt like this
    return await session.scalar(select(User).where(User.email == normalized))


async def register_user(session: AsyncSession, data: UserCreate) -> User:
    """Create a user; raise EmailAlreadyRegisteredError when the email is taken."""
    if await get_user_by_email(session, data.email) is not None:
        raise EmailAlreadyRegisteredError(data.email)
    # Hashing takes ~100 ms of CPU: keep it off the event loop.
    hashed = await to_thread.run_sync(hash_password, data.password)
    user = User(email=data.email, hashed_password=hashed, full_name=data.full_name)
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailAlreadyRegisteredError(data.email) from exc
    return user


async def authenticate_user(session: AsyncSession, email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None.

    An unknown email costs the same hash verification as a wrong password.
    """
    user = await get_user_by_email(session, email)
    hashed = user.hashed_password if user is not None else dummy_password_hash()
    password_ok = await to_thread.run_sync(verify_password, password, hashed)
    if user is None or not password_ok or not user.is_active:
        return None
    return user


async def get_active_user(session: AsyncSession, user_id: int) -> User | None:
    user = await session.get(User, user_id)
    return user if user is not None and user.is_active else None

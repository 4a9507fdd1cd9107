"""Base with every model registered on it: what Alembic and the tests import."""

from .auth.models import User
from .db import Base
from .tasks.models import Task

__all__ = ["Base", "Task", "User"]

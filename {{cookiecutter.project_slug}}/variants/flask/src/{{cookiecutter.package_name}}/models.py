"""Base with every model registered on it: what Alembic and the tests import."""

from .auth.models import User
from .db import Base
from .tasks.models import Priority, Task

__all__ = ["Base", "Priority", "Task", "User"]

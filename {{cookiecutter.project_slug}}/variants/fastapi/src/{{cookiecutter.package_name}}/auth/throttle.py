"""Login throttling per client address and username: in memory, or in Redis when shared."""

import logging
import math
import time
from collections.abc import Callable

from limits import parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from .schemas import normalize_email

logger = logging.getLogger(__name__)


def counted_as(username: str) -> str:
    """Every spelling of one address counts against one limit (see normalize_email)."""
    try:
        return normalize_email(username)
    except ValueError:
        return username.strip().lower()


class LoginThrottle:
    def __init__(
        self,
        limit: str,
        redis_url: str | None = None,
        on_refused: Callable[[], object] | None = None,
    ) -> None:
        storage: Storage = (
            RedisStorage(f"async+{redis_url}", wrap_exceptions=True)
            if redis_url
            else MemoryStorage()
        )
        self.limit = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage)
        self.on_refused = on_refused  # counts refusals (a metric), when given

    async def retry_after(self, client: str, username: str) -> int | None:
        """Count one attempt; None when it is allowed, else the seconds until one will be."""
        key = ("login", client, counted_as(username))
        try:
            if await self.limiter.hit(self.limit, *key):
                return None
            window = await self.limiter.get_window_stats(self.limit, *key)
            if self.on_refused is not None:
                self.on_refused()
        except StorageError:
            # An unreachable Redis must not lock every user out: log it and let the login on.
            logger.warning("Login throttle storage unavailable; attempt not counted")
            return None
        return max(1, math.ceil(window.reset_time - time.time()))

"""Login throttling per client address and username: in memory, or in Redis when shared."""

import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from .schemas import normalize_email

logger = logging.getLogger(__name__)


def counted_as(username: str) -> str:
    """Every spelling of one address counts against one limit (see normalize_email)."""
    try:
        return normalize_email(username)
    except ValueError:
        return username.strip().lower()


class _AppLimit(NamedTuple):
    limit: RateLimitItem
    limiter: MovingWindowRateLimiter
    on_refused: Callable[[], object] | None  # counts refusals (a metric), when given


class LoginThrottle:
    """A Flask extension: created once, bound to each app by init_app."""

    def init_app(
        self,
        app: Flask,
        *,
        limit: str,
        redis_url: str | None = None,
        on_refused: Callable[[], object] | None = None,
    ) -> None:
        storage: Storage = (
            RedisStorage(redis_url, wrap_exceptions=True) if redis_url else MemoryStorage()
        )
        app.extensions["login_throttle"] = _AppLimit(
            parse(limit), MovingWindowRateLimiter(storage), on_refused
        )

    def retry_after(self, client: str, username: str) -> int | None:
        """Count one attempt; None when it is allowed, else the seconds until one will be."""
        app_limit: _AppLimit = current_app.extensions["login_throttle"]
        key = ("login", client, counted_as(username))
        try:
            if app_limit.limiter.hit(app_limit.limit, *key):
                return None
            window = app_limit.limiter.get_window_stats(app_limit.limit, *key)
            if app_limit.on_refused is not None:
                app_limit.on_refused()
        except StorageError:
            # An unreachable Redis must not lock every user out: log it and let the login on.
            logger.warning("Login throttle storage unavailable; attempt not counted")
            return None
        return max(1, math.ceil(window.reset_time - time.time()))


login_throttle = LoginThrottle()

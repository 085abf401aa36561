"""Django's Redis cache, forgiving: with Redis down, reads miss and writes do nothing, so the rate limits
that count in it fail open and requests go on (intake and dispatch must not depend on Redis)."""

import logging

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("citygrid.cache")
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class ForgivingRedisCache(RedisCache):
    def add(self, *args, **kwargs):
        try:
            return super().add(*args, **kwargs)
        except _DOWN as exc:
            log.warning("Redis unavailable (%s): rate limits are off", exc)
            return False

    def incr(self, *args, **kwargs):
        try:
            return super().incr(*args, **kwargs)
        except _DOWN:
            return None

    def get(self, *args, **kwargs):
        try:
            return super().get(*args, **kwargs)
        except _DOWN:
            return kwargs.get("default", args[1] if len(args) > 1 else None)

    def clear(self):
        try:
            return super().clear()
        except _DOWN:
            return None

"""How many live-feed streams may be open at once. Each open stream holds one of a worker's threads for up
to FEED_STREAM_SECONDS: unbounded, a handful of browser tabs (or one token opening streams in a loop) would
take every thread and leave health checks and ordinary requests waiting. So each process keeps at most
FEED_STREAMS_PER_PROCESS (its threads less two), each user at most FEED_STREAMS_PER_USER across all
processes (counted in the shared cache; per process when the cache is down). A refused stream gets an
answer at once, and the console falls back to polling."""

import threading
from collections import Counter
from contextlib import suppress

from django.conf import settings
from django.core.cache import cache

_lock = threading.Lock()
_open = 0
_local_per_user: Counter[int] = Counter()  # when the shared cache cannot count


def _key(user_id: int) -> str:
    return f"citygrid:feed-streams:{user_id}"


def acquire(user_id: int) -> str | None:
    """Take a slot for a new stream; None when taken, else why not ("process" or "user")."""
    global _open
    with _lock:
        if _open >= settings.FEED_STREAMS_PER_PROCESS:
            return "process"
        _open += 1
    # The TTL bounds the damage of a worker killed with its streams open: its counts expire.
    ttl = int(settings.FEED_STREAM_SECONDS) + 60
    cache.add(_key(user_id), 0, ttl)
    try:
        shared = cache.incr(_key(user_id))  # None: the cache is down (citygrid.cache)
    except ValueError:  # expired between add and incr
        shared = None
    with _lock:
        _local_per_user[user_id] += 1
        count = shared if shared is not None else _local_per_user[user_id]
        if count > settings.FEED_STREAMS_PER_USER:
            _local_per_user[user_id] -= 1
            _open -= 1
            refused = True
        else:
            refused = False
    if refused:
        if shared is not None:
            cache.decr(_key(user_id))
        return "user"
    return None


def release(user_id: int) -> None:
    global _open
    with _lock:
        _open -= 1
        _local_per_user[user_id] -= 1
        if _local_per_user[user_id] <= 0:
            del _local_per_user[user_id]
    with suppress(ValueError):  # the count expired meanwhile
        cache.decr(_key(user_id))


class Slot:
    """The stream's events, releasing the slot exactly once when the response is closed — also when the
    client went away before the first event (a generator's `finally` would not run then)."""

    def __init__(self, user_id: int, events):
        self.user_id, self.events, self.released = user_id, events, False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.events)

    def close(self) -> None:
        if not self.released:
            self.released = True
            self.events.close()
            release(self.user_id)

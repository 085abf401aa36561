"""Heavy reads on streaming replicas (DATABASE_REPLICA_URL), everything else on the primary.

Which reads are heavy is declared with the URL's policy (`Policy.replica` in citygrid.policy): dashboards,
the evaluation, the bulletins, exports and the public services. Such a GET is served from a replica unless

- no replica is configured (then nothing changes: one database, as before), or
- the acting user wrote something in the last READ_YOUR_WRITES_SECONDS (a transition, a report, any POST):
  a replica may not have replayed it yet, and a user must see what he just did — others may see it a moment
  later, as they would have a moment earlier; or
- no replica answers (each one that fails is left alone for REPLICA_RETRY_SECONDS, then tried again).

The URL's declaration is read when the view is resolved (`ReplicaMiddleware`), and the choice is made at the
first read of the city's data, once authentication has run (a token is authenticated by the API view, after
every middleware): the database router (`ReplicaRouter`) asks for the ORM, `reading()` for the modules that
run their own SQL. It lasts for the one request.

Only the city's data goes to a replica (grids, incidents, dispatch and the apps above them): sessions,
accounts, second factors and lockouts always read the primary, since a login that has not been replayed yet
must not look like no login. Transitions and every write go to the primary whatever the request."""

import contextlib
import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    request: object  # the HttpRequest (its user is the authenticated one by the time reads start)
    alias: str | None = None
    decided: bool = False


_pending: ContextVar[_Pending | None] = ContextVar("citygrid_replica_choice", default=None)
_down_until: dict[str, float] = {}  # per process: a replica that failed, and when to try it again

# The city's data: what a replica may serve. Identity, sessions, lockouts and the audit trail never.
REPLICATED_APPS = frozenset({"grids", "assets", "incidents", "dispatch", "monitoring", "emergency"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def replica_aliases() -> list[str]:
    """The configured replicas' database aliases (settings.DATABASES), in the order of DATABASE_REPLICA_URL."""
    return [alias for alias in settings.DATABASES if alias.startswith("replica")]


def _wrote_key(user_id: int) -> str:
    return f"citygrid:wrote:{user_id}"


def note_write(user) -> None:
    """The user has just written: his reads go to the primary for READ_YOUR_WRITES_SECONDS."""
    if not replica_aliases() or not getattr(user, "is_authenticated", False):
        return
    try:
        cache.set(_wrote_key(user.pk), 1, timeout=settings.READ_YOUR_WRITES_SECONDS)
    except Exception:  # noqa: BLE001 - no shared cache: wrote_recently() then says yes to everyone
        log.warning("read-your-writes mark not stored (cache unavailable)")


def wrote_recently(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        return bool(cache.get(_wrote_key(user.pk)))
    except Exception:  # noqa: BLE001 - without the mark, the safe answer is the primary
        return True


def _answers(alias: str) -> bool:
    """Whether this replica can serve now: connected (or connectable) and recovering as a standby should."""
    if _down_until.get(alias, 0) > time.monotonic():
        return False
    conn: BaseDatabaseWrapper = connections[alias]
    try:
        conn.close_if_unusable_or_obsolete()
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except DatabaseError as exc:
        _down_until[alias] = time.monotonic() + settings.REPLICA_RETRY_SECONDS
        log.warning("replica %s unavailable, reading from the primary for %s s: %s", alias,
                    settings.REPLICA_RETRY_SECONDS, str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        with contextlib.suppress(DatabaseError):
            conn.close()
        return False


def choose(request_method: str, user, heavy: bool) -> str | None:
    """The replica alias this request's reads go to, or None for the primary."""
    aliases = replica_aliases()
    if not aliases or not heavy or request_method not in SAFE_METHODS or wrote_recently(user):
        return None
    for alias in random.sample(aliases, len(aliases)):  # spread the readers; the next one if one is down
        if _answers(alias):
            return alias
    return None


def current() -> str:
    """The alias this request's reads of the city's data go to (the primary's outside a heavy read)."""
    pending = _pending.get()
    if pending is None:
        return DEFAULT_DB_ALIAS
    if not pending.decided:
        pending.decided = True  # before choosing: the check's own query must not ask again
        request = pending.request
        pending.alias = choose(request.method, getattr(request, "user", None), heavy=True)
    return pending.alias or DEFAULT_DB_ALIAS


def reading() -> BaseDatabaseWrapper:
    """The connection for this request's own read-only SQL (dashboards, evaluation, bulletins)."""
    return connections[current()]


class ReplicaMiddleware:
    """Notes a heavy read when its view is resolved, forgets it when the response is done, and marks a user
    who wrote (any unsafe method that succeeded)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pending.set(None)
        try:
            response = self.get_response(request)
        finally:
            _pending.reset(token)
        if request.method not in SAFE_METHODS and response.status_code < 400:
            note_write(getattr(request, "user", None))
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        from .policy import policy_for

        match = request.resolver_match
        policy = policy_for(match.view_name) if match else None
        if policy is not None and policy.replica and request.method in SAFE_METHODS and replica_aliases():
            _pending.set(_Pending(request))
        return None


class ReplicaRouter:
    """The ORM's side: reads of the city's data follow the request's choice; writes and migrations stay on
    the primary (a replica is a read-only copy of it)."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label not in REPLICATED_APPS:
            return DEFAULT_DB_ALIAS
        return current()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data on every alias

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS

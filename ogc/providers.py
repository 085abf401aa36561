"""pygeoapi's PostgreSQL provider, on Django's own connection and with the caller's scope.

**The connection.** The provider reads through the request thread's Django connection (the runtime role of
DATABASE_URL, as every other read of the application): no second pool per process, the same role and database
settings, and a test's uncommitted data is seen as by the API. pygeoapi's engine only reflects the view's columns
at start-up and is then let go. SQLAlchemy never commits, rolls back or closes Django's connection: the pool hands
out the thread's connection and forgets it on return, and the dialect's commit and rollback are no-ops (the
provider only reads; in autocommit each statement is its own transaction).

**The scope.** The census and the pipes are filtered by the same functions the API uses (assets.scoping), so a
district's staff read their district's components and nobody reads a network outside his charge — through the
list, a bbox, a filter or an item by its code. The caller is the request being served (a context variable set by
ogc.views around each call into pygeoapi); with no caller set, nothing restricted is visible (fail closed)."""

from contextvars import ContextVar
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import EmptyResultSet
from django.db import connection
from pygeoapi.provider.base import ProviderItemNotFoundError
from pygeoapi.provider.sql import PostgreSQLProvider
from sqlalchemy import and_, create_engine, false, text
from sqlalchemy.pool import NullPool

current_user: ContextVar[AbstractBaseUser | None] = ContextVar("ogc_current_user", default=None)


class _BorrowedPool(NullPool):
    """Hands out the current thread's Django connection; on return forgets it (Django owns and closes it)."""

    def _do_return_conn(self, record) -> None:
        record.dbapi_connection = None  # not closed: it is Django's


def _django_connection():
    connection.ensure_connection()
    return connection.connection


@cache
def django_engine():
    engine = create_engine("postgresql+psycopg2://", creator=_django_connection, poolclass=_BorrowedPool,
                           pool_reset_on_return=None)
    engine.dialect.do_rollback = lambda dbapi_connection: None  # never end Django's transaction (a test's)
    engine.dialect.do_commit = lambda dbapi_connection: None
    return engine


def _visible_codes(scope: str, user: AbstractBaseUser):
    from assets import scoping

    if scope == "component":
        return scoping.visible_components(user).values("code")
    if scope == "segment":
        return scoping.visible_segments(user).values("code")
    raise ValueError(f"unknown scope {scope}")


def scope_clause(scope: str, user: AbstractBaseUser | None, table: str):
    """A SQLAlchemy condition: the row's code among those the user may see, as the app's own query says
    (compiled by Django, its parameters quoted by psycopg2, so the rule lives in one place)."""
    if user is None or not user.is_authenticated:
        return false()
    qs = _visible_codes(scope, user)
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:
        return false()
    with connection.cursor() as cursor:
        subquery = cursor.mogrify(sql, params).decode()
    # SQLAlchemy doubles a literal % for psycopg2 itself; the subquery holds no ":name" bind markers
    return text(f'"{table}".code IN ({subquery})')


class CityProvider(PostgreSQLProvider):
    def __init__(self, provider_def: dict):
        super().__init__(provider_def)  # reflects the view's columns with pygeoapi's own engine, once
        self._engine.dispose()
        self._engine = django_engine()
        self.scope = provider_def.get("scope", "")

    def _get_property_filters(self, properties):
        condition = super()._get_property_filters(properties)
        if not self.scope:
            return condition
        return and_(condition, scope_clause(self.scope, current_user.get(), self.table))

    def get(self, identifier, crs_transform_spec=None, **kwargs):
        if self.scope:
            found = self.query(offset=0, limit=1, properties=[(self.id_field, identifier)], resulttype="hits")
            if not found["numberMatched"]:
                raise ProviderItemNotFoundError(f"No such item: {self.id_field}={identifier}")
        return super().get(identifier, crs_transform_spec, **kwargs)

"""New rows as INSERT statements of one's own, for writes that send several of them in one round trip.

A report writes three rows (its case, its log entry, the audit record); written by the ORM they cost three
statements, each compiled anew, and a query for the case's number before them: a third of a web worker's time
for a report. Joined in one execute they run as one round trip, each still a statement of its own, so the
triggers of each (the case's key, the tallies) have run before the next one starts — which a data-modifying
WITH would not give: its sub-statements' foreign-key checks and statement triggers all fire at its end."""

from functools import lru_cache

from django.db import connection
from django.db.models import Model, signals


def insert_sql(obj: Model, expressions: dict[str, tuple[str, list]] | None = None) -> tuple[str, list]:
    """The INSERT Django would send to save the new instance `obj` (its fields' defaults and auto_now values
    as `save()` sets them, each value prepared for the database; the id left to its sequence), without
    RETURNING. `expressions` give a column's SQL and its parameters in place of its value (by attribute name)."""
    expressions = expressions or {}
    meta = obj._meta
    # What the ORM would do and this does not (save signals, a parent table's row) is refused, not skipped.
    if meta.parents or signals.pre_save.has_listeners(type(obj)) or signals.post_save.has_listeners(type(obj)):
        raise ValueError(f"insert_sql: {meta.label} needs the ORM's save()")
    with_pk = getattr(obj, meta.pk.attname) is not None
    sql, fields = _statement(type(obj), with_pk, tuple((k, v[0]) for k, v in sorted(expressions.items())))
    params = []
    for f in fields:
        value = f.pre_save(obj, add=True)
        if f.attname in expressions:
            params.extend(expressions[f.attname][1])
            continue
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"insert_sql: {meta.label}.{f.name} needs the ORM's save()")
        if getattr(value, "srid", None) not in (None, getattr(f, "srid", None)):
            raise ValueError(f"insert_sql: {meta.label}.{f.name} is in SRID {value.srid}, not the field's")
        # A geometry's value is PostGIS's adapter, which writes itself as ST_GeomFromEWKB(...).
        params.append(f.get_db_prep_save(value, connection))
    return sql, params


@lru_cache(maxsize=64)
def _statement(model: type[Model], with_pk: bool, expressions: tuple[tuple[str, str], ...]) -> tuple[str, tuple]:
    # The statement's text and the fields whose values it takes, in order: the same for every row of a model.
    qn = connection.ops.quote_name
    given = dict(expressions)
    fields, values = [], []
    for f in model._meta.local_concrete_fields:
        if (f.primary_key and not with_pk) or getattr(f, "generated", False):
            continue
        if f.attname not in given and f.has_db_default():
            raise ValueError(f"insert_sql: {model._meta.label}.{f.name} needs the ORM's save()")
        fields.append(f)
        values.append(given.get(f.attname, "%s"))
    columns = ", ".join(qn(f.column) for f in fields)
    return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({', '.join(values)})", tuple(fields)


def last_id(model: type[Model]) -> str:
    """SQL for the id this session's last INSERT into `model`'s table took from its sequence; a subquery, so
    that a condition on it is one value for the planner (currval is volatile: compared as such, every row is
    read)."""
    return f"(SELECT currval('{_sequence(model._meta.db_table, model._meta.pk.column)}'))"


@lru_cache(maxsize=64)
def _sequence(table: str, column: str) -> str:
    # Looked up once per process, not in every statement that names it.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
        name = cur.fetchone()[0]
    if name is None:
        raise ValueError(f"last_id: {table}.{column} takes no value from a sequence")
    return name

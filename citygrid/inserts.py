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
    qn = connection.ops.quote_name
    columns, values, params = [], [], []
    for f in meta.local_concrete_fields:
        if (f.primary_key and getattr(obj, f.attname) is None) or getattr(f, "generated", False):
            continue
        value = f.pre_save(obj, add=True)
        columns.append(qn(f.column))
        if f.attname in expressions:
            sql, own = expressions[f.attname]
            values.append(sql)
            params.extend(own)
            continue
        if hasattr(value, "resolve_expression") or f.has_db_default():
            raise ValueError(f"insert_sql: {meta.label}.{f.name} needs the ORM's save()")
        if getattr(value, "srid", None) not in (None, getattr(f, "srid", None)):
            raise ValueError(f"insert_sql: {meta.label}.{f.name} is in SRID {value.srid}, not the field's")
        # A geometry's value is PostGIS's adapter, which writes itself as ST_GeomFromEWKB(...).
        values.append("%s")
        params.append(f.get_db_prep_save(value, connection))
    return (f"INSERT INTO {qn(obj._meta.db_table)} ({', '.join(columns)}) VALUES ({', '.join(values)})",
            params)


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
        return cur.fetchone()[0]

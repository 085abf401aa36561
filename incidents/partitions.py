"""The cases and their log by month (migration 0013): a partition per month of the report (of the step), made
ahead by the scheduler and for a past period by whoever fills it (the generated history)."""

from datetime import date

from django.db import connection


def ensure_partitions(first: date | None = None, months: int = 2) -> int:
    """Make the cases' and the case log's monthly partitions from the month of `first` (default: the current one)
    to `months` ahead, moving into each what the DEFAULT partition took for it (the owner's definer function
    incidents_partitions: the runtime role creates nothing). Returns how many tables were made."""
    with connection.cursor() as cur:
        cur.execute("SELECT incidents_partitions(%s, %s)", [first, months])
        return cur.fetchone()[0]

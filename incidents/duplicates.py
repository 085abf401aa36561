from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from citygrid import prepared

from .models import FINAL_STATUSES, Case

_METRES_PER_DEGREE = 111_320.0

# Intake runs this for every report: a function of the database (migration 0023 says why), its plan made once
# per connection and kept; the statements calling it are prepared too (citygrid.prepared). A box in degrees
# (generous at this latitude) that the spatial index answers, then the exact distance in metres. `exclude` is the
# SQL of the id left out: a parameter, or the id of the case the caller's statement has just written. Asked in the
# report's own transaction, the search sees the cases committed when its statement starts: two reports of the same
# thing at the same instant do not see each other (as before, when it ran just after the commit, one of them did).
_CALL = "incidents_open_cases_near(%s, {exclude}, %s, %s, %s::text[], %s, %s, %s, %s, %s)"


def _oldest_first(column: str, exclude: str) -> str:
    """A SELECT of `column` (id or number) of the call's rows, in the function's order."""
    return (f"SELECT d.{column} FROM {_CALL.format(exclude=exclude)} WITH ORDINALITY AS d(id, number, n) "
            "ORDER BY d.n")


def _arguments(lon: float, lat: float, category_id: int, at: datetime | None, limit: int) -> list:
    """The call's parameters but the excluded id, in the order of its placeholders."""
    at = at or timezone.now()
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    radius = settings.DUPLICATE_RADIUS_M
    return [category_id, at - window, at + window, [str(s) for s in FINAL_STATUSES], lon, lat,
            radius / _METRES_PER_DEGREE * 1.5, radius, limit]


def likely_duplicate_ids(case: Case, limit: int = 10) -> list[int]:
    """Open cases of the same subclass within DUPLICATE_RADIUS_M metres and DUPLICATE_WINDOW_HOURS hours,
    oldest first."""
    return duplicates_near(case.location.x, case.location.y, case.category_id, case.created_at,
                           exclude_id=case.pk or 0, limit=limit)


def likely_duplicate_numbers_sql(case: Case, exclude: str, limit: int = 10) -> tuple[str, list]:
    """The same as case numbers, oldest first, in an array: SQL and its parameters for a statement of the caller's,
    `exclude` the SQL of the id to leave out. Intake asks it in the round trip that writes the report, of the case
    just written (incidents.intake)."""
    args = _arguments(case.location.x, case.location.y, case.category_id, case.created_at, limit)
    return f"ARRAY({_oldest_first('number', exclude)})", args


def likely_duplicates(case: Case, limit: int = 10):
    """The same, as a queryset of cases. It names their time window too: the cases are partitioned by month of
    report, and a look-up by id alone would search every month's partition."""
    at = case.created_at or timezone.now()
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    return Case.objects.filter(pk__in=likely_duplicate_ids(case, limit),
                               created_at__range=(at - window, at + window))


def duplicates_near(lon: float, lat: float, category_id: int, at: datetime | None = None, *, exclude_id: int = 0,
                    limit: int = 10) -> list[int]:
    """The same question for a report not yet saved (the hotline desk asks while the caller is on the line):
    open cases of this subclass near this point around this time, oldest first."""
    category, *rest = _arguments(lon, lat, category_id, at, limit)
    with connection.cursor() as cur:
        prepared.execute(cur, _oldest_first("id", "%s"), [category, exclude_id, *rest])
        return [id_ for (id_,) in cur.fetchall()]

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import FINAL_STATUSES, Case

_METRES_PER_DEGREE = 111_320.0

# Intake runs this for every report, so it is one plain indexed statement: a box in degrees (generous at
# this latitude) that the spatial index answers, then the exact distance in metres. It is planned each time, not
# prepared (citygrid.prepared): a generic plan, blind to how few cases lie in the box and how many in the hours,
# joins the box with the time index and read every case of a day's window (4 ms against 0.4 planned).
_SQL = """
SELECT id, number FROM incidents_case
WHERE category_id = %(category)s AND id <> %(id)s AND created_at BETWEEN %(start)s AND %(end)s
  AND NOT (status = ANY(%(final)s))
  AND ST_DWithin(location, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326), %(degrees)s)
  AND ST_DistanceSphere(location, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), 4326)) <= %(radius)s
ORDER BY created_at, id
LIMIT %(limit)s
"""


def likely_duplicate_ids(case: Case, limit: int = 10) -> list[int]:
    """Open cases of the same subclass within DUPLICATE_RADIUS_M metres and DUPLICATE_WINDOW_HOURS hours,
    oldest first."""
    return duplicates_near(case.location.x, case.location.y, case.category_id, case.created_at,
                           exclude_id=case.pk or 0, limit=limit)


def likely_duplicate_numbers(case: Case, limit: int = 10) -> list[str]:
    """The same, as case numbers: what intake answers the reporter with, from the one statement."""
    return [number for _id, number in _near(case.location.x, case.location.y, case.category_id, case.created_at,
                                            exclude_id=case.pk or 0, limit=limit)]


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
    return [id_ for id_, _number in _near(lon, lat, category_id, at, exclude_id=exclude_id, limit=limit)]


def _near(lon: float, lat: float, category_id: int, at: datetime | None, *, exclude_id: int,
          limit: int) -> list[tuple[int, str]]:
    at = at or timezone.now()
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    radius = settings.DUPLICATE_RADIUS_M
    with connection.cursor() as cur:
        cur.execute(_SQL, {"category": category_id, "id": exclude_id, "start": at - window, "end": at + window,
                           "final": [str(s) for s in FINAL_STATUSES], "x": lon, "y": lat,
                           "degrees": radius / _METRES_PER_DEGREE * 1.5, "radius": radius, "limit": limit})
        return cur.fetchall()

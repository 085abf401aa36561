from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from citygrid import prepared

from .models import FINAL_STATUSES, Case

_METRES_PER_DEGREE = 111_320.0

# Intake runs this for every report: a function of the database (migration 0023 says why), its plan made once
# per connection and kept; the statement calling it is prepared too (citygrid.prepared). A box in degrees (generous
# at this latitude) that the spatial index answers, then the exact distance in metres.
_SQL = """
SELECT id, number FROM incidents_open_cases_near(%(category)s, %(id)s, %(start)s, %(end)s, %(final)s::text[],
                                                 %(x)s, %(y)s, %(degrees)s, %(radius)s, %(limit)s)
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
        prepared.execute(cur, _SQL, {"category": category_id, "id": exclude_id, "start": at - window,
                                     "end": at + window, "final": [str(s) for s in FINAL_STATUSES], "x": lon, "y": lat,
                                     "degrees": radius / _METRES_PER_DEGREE * 1.5, "radius": radius, "limit": limit})
        return cur.fetchall()

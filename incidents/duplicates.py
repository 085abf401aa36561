from datetime import timedelta

from django.conf import settings
from django.db import connection

from .models import FINAL_STATUSES, Case

_METRES_PER_DEGREE = 111_320.0

# Intake runs this for every report, so it is one plain indexed statement: a box in degrees (generous at
# this latitude) that the spatial index answers, then the exact distance in metres.
_SQL = """
SELECT id FROM incidents_case
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
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    radius = settings.DUPLICATE_RADIUS_M
    with connection.cursor() as cur:
        cur.execute(_SQL, {"category": case.category_id, "id": case.pk or 0, "start": case.created_at - window,
                           "end": case.created_at + window, "final": [str(s) for s in FINAL_STATUSES],
                           "x": case.location.x, "y": case.location.y, "degrees": radius / _METRES_PER_DEGREE * 1.5,
                           "radius": radius, "limit": limit})
        return [row[0] for row in cur.fetchall()]

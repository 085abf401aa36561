from datetime import timedelta

from django.conf import settings
from django.contrib.gis.measure import D
from django.db.models import QuerySet

from .models import FINAL_STATUSES, Case

_METRES_PER_DEGREE = 111_320.0


def likely_duplicates(case: Case) -> QuerySet:
    """Open cases of the same subclass within DUPLICATE_RADIUS_M metres and DUPLICATE_WINDOW_HOURS hours."""
    radius = settings.DUPLICATE_RADIUS_M
    window = timedelta(hours=settings.DUPLICATE_WINDOW_HOURS)
    # An index-assisted box in degrees (generous at this latitude), then the exact distance in metres.
    degrees = radius / _METRES_PER_DEGREE * 1.5
    return (Case.objects.filter(category_id=case.category_id,
                                created_at__gte=case.created_at - window, created_at__lte=case.created_at + window,
                                location__dwithin=(case.location, degrees))
            .filter(location__distance_lte=(case.location, D(m=radius)))
            .exclude(pk=case.pk).exclude(status__in=FINAL_STATUSES)
            .order_by("created_at"))

"""Building a network from plain data: points by code and segments between them (tests, the demo, the bench)."""

from collections.abc import Iterable

from django.contrib.gis.geos import LineString, Point
from django.db import transaction

from .models import PipeNetwork, PipePoint, PipeSegment, geodesic_length


@transaction.atomic
def build_network(network: PipeNetwork, points: Iterable[tuple], segments: Iterable[tuple],
                  segment_defaults: dict | None = None) -> tuple[dict[str, PipePoint], dict[str, PipeSegment]]:
    """`points`: (code, kind, lon, lat[, customers]); `segments`: (code, from code, to code[, customers]), straight
    between their points. Returns both by code. Written in bulk: a city's network is a few hundred thousand rows."""
    made_points = PipePoint.objects.bulk_create(
        [PipePoint(network=network, code=p[0], kind=p[1], geom=Point(p[2], p[3], srid=4326),
                   customers=p[4] if len(p) > 4 else 0) for p in points], batch_size=5000)
    by_code = {p.code: p for p in made_points}
    rows = []
    for s in segments:
        a, b = by_code[s[1]], by_code[s[2]]
        line = LineString(a.geom.coords, b.geom.coords, srid=4326)
        rows.append(PipeSegment(network=network, code=s[0], source=a, target=b, geom=line,
                                length_m=geodesic_length(line), customers=s[3] if len(s) > 3 else 0,
                                **(segment_defaults or {})))
    made_segments = PipeSegment.objects.bulk_create(rows, batch_size=5000)
    return by_code, {s.code: s for s in made_segments}

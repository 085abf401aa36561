"""Finding a place by what a person says on the phone: a district, street or community by name, a cell by its
code — and, once the city has one, an address gazetteer (地名地址库).

A place source is any function `search(query: str, limit: int) -> list[Place]`, named in the
GRID_PLACE_SOURCES setting (dotted paths); `search_places` asks each in order and merges their answers. The
grid's own names are the first source; a gazetteer is added by writing its search function (against its own
table or service) and listing it there — nothing else changes, the hotline desk asks through the same API.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.gis.db.models.functions import PointOnSurface
from django.utils.module_loading import import_string

from .models import Area, Cell, Level

MAX_QUERY = 50


@dataclass(frozen=True)
class Place:
    kind: str  # "district", "street", "community", "cell"; a gazetteer adds its own ("address", "landmark"…)
    code: str
    name: str  # what the place is called
    context: str  # where it is, for telling places of the same name apart (the areas above it)
    lon: float
    lat: float
    source: str = "grid"

    def as_dict(self) -> dict:
        return asdict(self)


_KIND = {Level.DISTRICT: "district", Level.STREET: "street", Level.COMMUNITY: "community"}


def _context(area: Area | None) -> str:
    names = []
    while area is not None and area.level >= Level.DISTRICT:
        names.append(area.name)
        area = area.parent
    return " ".join(reversed(names))


def grid_names(query: str, limit: int) -> list[Place]:
    """Districts, streets and communities whose name contains the query (those starting with it first), and
    cells whose code starts with it."""
    query = query.strip()
    if not query:
        return []
    areas = (Area.objects.current().filter(level__gte=Level.DISTRICT, name__icontains=query)
             .select_related("parent__parent__parent").annotate(anchor=PointOnSurface("geom"))
             .defer("geom", "parent__geom", "parent__parent__geom", "parent__parent__parent__geom")
             .order_by("level", "name")[:limit * 3])
    found = sorted(areas, key=lambda a: (not a.name.startswith(query), a.level, len(a.name), a.name))[:limit]
    places = [Place(_KIND[a.level], a.code, a.name, _context(a.parent), a.anchor.x, a.anchor.y) for a in found]
    if query.isdigit() and len(places) < limit:
        cells = (Cell.objects.current().filter(code__startswith=query).select_related("community__parent__parent")
                 .annotate(anchor=PointOnSurface("geom"))
                 .defer("geom", "community__geom", "community__parent__geom", "community__parent__parent__geom")
                 .order_by("code")[:limit - len(places)])
        places += [Place("cell", c.code, c.code, _context(c.community), c.anchor.x, c.anchor.y) for c in cells]
    return places


@lru_cache(maxsize=8)
def _sources(paths: tuple[str, ...]) -> tuple[Callable[[str, int], list[Place]], ...]:
    return tuple(import_string(p) for p in paths)


def search_places(query: str, limit: int = 10) -> list[Place]:
    """Places matching what was typed, from every configured source in turn (duplicates by kind and code
    dropped), at most `limit`."""
    query = (query or "").strip()[:MAX_QUERY]
    if not query:
        return []
    out: list[Place] = []
    seen: set[tuple[str, str]] = set()
    for source in _sources(tuple(settings.GRID_PLACE_SOURCES)):
        for place in source(query, limit - len(out)):
            if (place.kind, place.code) not in seen:
                seen.add((place.kind, place.code))
                out.append(place)
        if len(out) >= limit:
            break
    return out[:limit]

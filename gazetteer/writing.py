"""Writing roads and addresses: located in the grid (district, street, community) and stored with their search
columns (gazetteer.records); used by the importer and the demo city."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.contrib.gis.geos import MultiLineString, Point

from grids.locate import locate_many

from .models import Address, Name, Road
from .records import address_texts, name_texts

LOCATE_BATCH = 50_000


@dataclass
class NewAddress:
    code: str
    kind: str
    road: str  # the road's name ("" for a landmark off any road)
    number: str
    sub: str
    name: str
    aliases: list[str]
    point: Point
    source: str = ""
    located: dict = field(default_factory=dict)  # level name → area id, filled by locate()


def locate(rows: Sequence, points: Sequence[Point]) -> list[bool]:
    """Fill each row's `located` (district, street, community ids); False for a point outside the city."""
    inside = []
    for start in range(0, len(rows), LOCATE_BATCH):
        batch = points[start:start + LOCATE_BATCH]
        for row, where in zip(rows[start:start + LOCATE_BATCH], locate_many([(p.x, p.y) for p in batch]),
                              strict=True):
            if where is None or "district" not in where.areas:
                inside.append(False)
                continue
            row.located = {level: ref.id for level, ref in where.areas.items()
                           if level in ("district", "street", "community")}
            inside.append(True)
    return inside


def road_for(name: str, district_id: int | None, cache: dict, aliases: list[str] | None = None,
             geom: MultiLineString | None = None) -> Road:
    """The road of that name in that district, made when missing (cache: (name, district) → Road)."""
    key = (name, district_id)
    road = cache.get(key)
    if road is None:
        road = Road.objects.filter(name=name, district_id=district_id).first()
        if road is None:
            road = Road.objects.create(name=name, district_id=district_id, aliases="|".join(aliases or []),
                                       geom=geom)
            set_names(road, [name, *(aliases or [])])
        cache[key] = road
    return road


def set_names(road: Road, names: list[str]) -> None:
    """A road's searched names: its name and aliases."""
    Name.objects.filter(road=road).delete()
    Name.objects.bulk_create(Name(road=road, text=t, sound=s) for t, s in name_texts(names))


def address_fields(row: NewAddress, road: Road | None) -> dict:
    return {"kind": row.kind, "road": road, "number": row.number, "sub": row.sub, "name": row.name[:100],
            "aliases": "|".join(row.aliases)[:300], "geom": row.point, "source": row.source[:100],
            "district_id": row.located.get("district"), "street_id": row.located.get("street"),
            "community_id": row.located.get("community"),
            **address_texts(row.kind, road.name if road else "", row.number, row.sub, row.name)}


def write(rows: Sequence[NewAddress], existing: dict[str, int] | None = None) -> tuple[int, int]:
    """Store located rows: new codes created in bulk, existing ones (code → id) updated. Returns (created,
    updated)."""
    existing = existing or {}
    cache: dict = {}
    new, changed = [], []
    for row in rows:
        road = road_for(row.road, row.located.get("district"), cache) if row.road else None
        values = address_fields(row, road)
        if row.code in existing:
            changed.append(Address(id=existing[row.code], code=row.code, **values))
        else:
            new.append(Address(code=row.code, **values))
    Address.objects.bulk_create(new, batch_size=5000)
    if changed:
        Address.objects.bulk_update(changed, list(address_fields(rows[0], None)), batch_size=2000)
        Name.objects.filter(address_id__in=[a.id for a in changed]).delete()
    names = {row.code: [row.name, *row.aliases] for row in rows if row.name}
    Name.objects.bulk_create((Name(address=a, text=t, sound=s) for a in [*new, *changed] if a.code in names
                              for t, s in name_texts(names[a.code])), batch_size=5000)
    return len(new), len(changed)

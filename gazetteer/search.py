"""Geocoding (text → scored candidates) and reverse geocoding (point → the nearest door number and its road),
on PostgreSQL's trigram search (pg_trgm) and the point index.

A query is normalised (gazetteer.normalise) and split into road, door number and the rest. With a door number,
the roads most like the road part are found first (a few thousand rows: similarity, tolerant of a wrong
character), then the door number on them through the (road, number) index — exact, or the nearest numbers when
that one does not exist; building and unit decide among the same door. Without a number, or when that finds
nothing good, landmarks and buildings by name (a GIN trigram index over named addresses only) and roads by name.
Each candidate's score is in [0, 1]: road likeness, the number, the building, a district the caller named.
"""

import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection

from grids.models import Area, Level

from .normalise import DEFAULT_PREFIXES, normalise, parse, sound_text, trigram_text
from .records import name_prefixes

MAX_QUERY = 100
ROADS_CONSIDERED = 5
NAME_THRESHOLD = 0.55  # a name with one character of four wrong is 0.6 alike; one sharing only 医院, 0.33
NEIGHBOURS = 3  # numbers on either side offered when the one said is not there
MIN_ROAD_SCORE = 0.3
_PREFIX_TTL_S = 300.0
_prefix_cache: dict[str, tuple[float, dict[str, int | None]]] = {}


@dataclass(frozen=True)
class Candidate:
    kind: str  # "door", "building", "poi", "road"
    id: int
    text: str  # the address as shown
    context: str  # district and street, for telling same names apart
    road: str
    number: str
    lon: float
    lat: float
    score: float

    def as_dict(self) -> dict:
        return asdict(self)


def _prefixes() -> dict[str, int | None]:
    """Words dropped from the front of a query → the district they name (None for the province and city):
    the configured ones, and the names of districts, streets and communities (cached a few minutes per database)."""
    key = connection.settings_dict["NAME"]
    now = time.monotonic()
    cached = _prefix_cache.get(key)
    if cached and now - cached[0] < _PREFIX_TTL_S:
        return cached[1]
    words: dict[str, int | None] = {w: None for w in getattr(settings, "GAZETTEER_PREFIXES", DEFAULT_PREFIXES)}
    district_of: dict[int, int | None] = {}
    for area_id, level, name, parent_id in Area.objects.filter(
            level__in=(Level.DISTRICT, Level.STREET, Level.COMMUNITY)).order_by("level") \
            .values_list("id", "level", "name", "parent_id"):
        # a street or community names its district
        district_of[area_id] = area_id if level == Level.DISTRICT else district_of.get(parent_id)
        words.setdefault(name, district_of[area_id])
        if level == Level.DISTRICT:
            for suffix in ("区", "县", "市"):  # "雨湖" for 雨湖区, as people say it
                if name.endswith(suffix) and len(name) > 2:
                    words.setdefault(name[:-1], area_id)
    _prefix_cache[key] = (now, words)
    return words


def clear_cache() -> None:
    _prefix_cache.clear()


_COLUMNS = """a.id, a.kind, a.text, a.number, a.sub, coalesce(r.name, ''), ST_X(a.geom), ST_Y(a.geom),
              concat_ws(' ', d.name, s.name), a.district_id, a.road_id, a.number_value"""
_JOINS = """LEFT JOIN gazetteer_road r ON r.id = a.road_id LEFT JOIN grids_area d ON d.id = a.district_id
            LEFT JOIN grids_area s ON s.id = a.street_id"""


def _candidate(row, score: float) -> Candidate:
    return Candidate(row[1], row[0], row[2], row[8], row[5], row[3], row[6], row[7], round(min(score, 1.0), 3))


def _sub_score(wanted: str, have: str) -> float:
    """How well the building/unit said matches the address's: 1 the same (none said, none stored included), 0.5
    the same building or a building of the door said, negative for another building."""
    if not wanted:
        return 1.0 if not have else 0.5  # the door itself before its buildings
    if wanted == have:
        return 1.0
    if have and (wanted.startswith(have) or have.startswith(wanted)):
        return 0.5
    return -0.3 if have else 0.0


def _names(cur, text: str, raw: str, roads: bool, threshold: float, limit: int,
           fuzzy: bool = True) -> dict[int, float]:
    """Roads (or named addresses) → how alike their best name is: the same name (1.0), else the same sound (0.95),
    else one character away (a slip key), else by characters through the trigram index, and by sound when no name
    was alike enough (0.8)."""
    q, q_raw = trigram_text(text), trigram_text(raw)
    # Said right, or sounding right: equality on the names' btree indexes, no likeness computed (most queries).
    column = "road_id" if roads else "address_id"
    cur.execute(f"SELECT {column}, 1.0::float8 FROM gazetteer_name WHERE text = ANY(%s) AND {column} IS NOT NULL "
                f"LIMIT %s", [[q, q_raw], limit])
    found: dict[int, float] = dict(cur.fetchall())
    if found:
        return found
    cur.execute(f"SELECT {column}, 0.95::float8 FROM gazetteer_name WHERE sound = ANY(%s) AND {column} IS NOT NULL "
                f"LIMIT %s", [[sound_text(text), sound_text(raw)], limit])
    found = dict(cur.fetchall())
    if found or not fuzzy:
        return found
    # One character wrong (the usual slip): equality on the names' slip keys (migration 0002), no likeness search.
    cur.execute("SELECT aid, rid, sim FROM gazetteer_names_slipped(%s, %s, %s, %s)", [q, q_raw, roads, limit])
    found = {rid if roads else aid: sim for aid, rid, sim in cur.fetchall()}
    if found:
        return found
    cur.execute("SELECT aid, rid, sim FROM gazetteer_names_like(%s, %s, %s, %s, %s)",
                [q, q_raw, roads, threshold, limit])
    for aid, rid, sim in cur.fetchall():
        found[rid if roads else aid] = sim
    # By sound for roads only: landmarks' names are long and share their sounds (yi yuan, gong yuan) by the
    # thousand, which costs more than it finds.
    if roads and (not found or max(found.values()) < 0.8):
        cur.execute("SELECT aid, rid, sim FROM gazetteer_names_sounding(%s, %s, %s, %s, %s)",
                    [sound_text(text), sound_text(raw), roads, threshold, limit])
        for aid, rid, sim in cur.fetchall():
            key = rid if roads else aid
            found[key] = max(found.get(key, 0.0), sim)
    return found


def _by_road(cur, road: str, raw_road: str, number: str, sub: str, districts: set[int],
             limit: int) -> list[Candidate]:
    """Door numbers on the roads most like the road part (by characters, by sound, or a road name contained in
    what was said): the number itself first, then the nearest."""
    if not road and not raw_road:
        return []
    # Roads whose name is like the road part, by characters — the unstripped road part too, for a road whose
    # name starts like a place dropped from the front —, and by sound when the characters found nothing good.
    scores = _names(cur, road, raw_road, True, MIN_ROAD_SCORE, ROADS_CONSIDERED)
    roads = {rid: score for rid, score in sorted(scores.items(), key=lambda kv: -kv[1])[:ROADS_CONSIDERED]
             if score >= MIN_ROAD_SCORE}
    if not roads:
        return []
    value = int(number.split("-")[0])
    # Per road, the number itself and the nearest on either side: three short walks of the (road, number) index.
    cur.execute(f"SELECT {_COLUMNS} FROM gazetteer_doors(%s, %s, %s) a {_JOINS} LIMIT 300",
                [list(roads), value, NEIGHBOURS])
    out = []
    for row in cur.fetchall():
        road_score = roads[row[10]]
        if row[3] == number:
            number_score = 1.0
        elif row[11] == value:
            number_score = 0.8  # 12-1 for 12
        else:
            number_score = 0.5 / (1 + abs((row[11] or 0) - value) / 5)  # a neighbour, lower the further
        score = 0.55 * road_score + 0.3 * number_score + 0.1 * _sub_score(sub, row[4]) \
            + (0.05 if row[9] in districts else 0.0) - (0.01 if row[1] == "poi" else 0.0)  # the door first
        out.append(_candidate(row, score))
    return out


def _by_name(cur, text: str, districts: set[int], limit: int) -> list[Candidate]:
    """Landmarks, named buildings and roads whose name or an alias is like the query, by characters or by sound
    (GIN trigram indexes on the names)."""
    if not text:
        return []
    addresses = _names(cur, text, text, False, NAME_THRESHOLD, limit)
    out = []
    if addresses:
        cur.execute(f"SELECT {_COLUMNS} FROM gazetteer_address a {_JOINS} WHERE a.id = ANY(%s)", [list(addresses)])
        out = [_candidate(row, 0.95 * addresses[row[0]] + (0.05 if row[9] in districts else 0.0))
               for row in cur.fetchall()]
    # Roads by name too, by likeness only when no landmark was found as said.
    roads = _names(cur, text, text, True, NAME_THRESHOLD, limit, fuzzy=not any(v >= 0.8 for v in addresses.values()))
    if not roads:
        return out
    cur.execute("""
        SELECT r.id, r.name, ST_X(p), ST_Y(p), coalesce(d.name, ''), r.district_id
        FROM gazetteer_road r LEFT JOIN grids_area d ON d.id = r.district_id,
             LATERAL (SELECT coalesce(ST_ClosestPoint(r.geom, ST_Centroid(r.geom)),
                                      (SELECT a.geom FROM gazetteer_address a WHERE a.road_id = r.id
                                       ORDER BY a.number_value LIMIT 1)) AS p) anchor
        WHERE r.id = ANY(%s) AND p IS NOT NULL""", [list(roads)])
    out += [Candidate("road", rid, name, context, name, "", lon, lat,
                      round(min(0.9 * roads[rid] + (0.05 if district in districts else 0.0), 1.0), 3))
            for rid, name, lon, lat, context, district in cur.fetchall()]
    return out


def geocode(query: str, limit: int = 10) -> list[Candidate]:
    """Candidates for what was typed or said, best first, each with a score in [0, 1]."""
    prefixes = _prefixes()
    norm = normalise((query or "")[:MAX_QUERY], prefixes)
    if not norm.text:
        return []
    districts = {prefixes[w] for w in norm.dropped if prefixes.get(w)}
    raw = normalise((query or "")[:MAX_QUERY], prefixes=()).text  # nothing dropped: 韶山路 after all
    parts = parse(norm.text)
    found: list[Candidate] = []
    with connection.cursor() as cur:
        if parts.number:
            found = _by_road(cur, parts.road, parse(raw).road, parts.number, parts.sub, districts, limit)
        # A door number said is a door number; landmarks by name when there is none, or no road like it.
        if not found or max(c.score for c in found) < 0.5:
            names = normalise((query or "")[:MAX_QUERY], prefixes=name_prefixes()).text
            found += _by_name(cur, names, districts, limit)
    best: dict[tuple[str, int], Candidate] = {}
    for c in found:  # an address found both ways keeps its better score
        key = (c.kind == "road", c.id)
        if key not in best or best[key].score < c.score:
            best[key] = c
    return sorted(best.values(), key=lambda c: (-c.score, c.text))[:limit]


@dataclass(frozen=True)
class Nearest:
    id: int
    kind: str
    text: str
    road: str
    number: str
    context: str
    lon: float
    lat: float
    distance_m: float

    def as_dict(self) -> dict:
        return asdict(self)


def reverse(lon: float, lat: float, max_distance_m: float | None = None) -> Nearest | None:
    """The nearest door number (or numbered building) to a point, with its road and the distance in metres;
    None when none lies within `max_distance_m` (GAZETTEER_REVERSE_MAX_M)."""
    limit = settings.GAZETTEER_REVERSE_MAX_M if max_distance_m is None else max_distance_m
    with connection.cursor() as cur:
        # KNN on the point index in degrees (a few nearest), then the true distance on the spheroid decides:
        # a degree of longitude is shorter than one of latitude here.
        cur.execute(f"""
            WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
            SELECT {_COLUMNS}, ST_Distance(a.geom::geography, (SELECT g FROM p)::geography) AS d
            FROM (SELECT * FROM gazetteer_address WHERE number <> ''
                  ORDER BY geom <-> (SELECT g FROM p) LIMIT 8) a {_JOINS}
            ORDER BY d, a.sub LIMIT 1""", {"lon": lon, "lat": lat})
        row = cur.fetchone()
    if row is None or row[12] > limit:
        return None
    return Nearest(row[0], row[1], row[2], row[5], row[3], row[8], row[6], row[7], round(row[12], 1))

"""The gazetteer as a place source of the grid (grids.places, GRID_PLACE_SOURCES): the hotline desk's place box
finds door numbers, buildings, landmarks and roads through it, with nothing else changed."""

from grids.places import Place

from .search import geocode

MIN_SCORE = 0.35  # below this a candidate is noise to an operator on a call

_KIND = {"door": "address", "building": "building", "poi": "landmark", "road": "road"}


def addresses(query: str, limit: int) -> list[Place]:
    """Candidates of the gazetteer as places; the code says which row ("A12", "R3")."""
    if limit <= 0:
        return []
    return [Place(_KIND[c.kind], ("R" if c.kind == "road" else "A") + str(c.id), c.text, c.context, c.lon, c.lat,
                  source="gazetteer")
            for c in geocode(query, limit) if c.score >= MIN_SCORE]

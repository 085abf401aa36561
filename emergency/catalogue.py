"""The event types of the four categories, as data (data/event_types.csv), loaded by the first migration and again
by `load_event_types` where the tests flushed them."""

import csv
from pathlib import Path

EVENT_TYPES = Path(__file__).parent / "data" / "event_types.csv"


def load_event_types(model=None) -> int:
    """Create or update every event type of the file; returns how many rows it has."""
    if model is None:
        from .models import EventType as model
    with EVENT_TYPES.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        model.objects.update_or_create(code=row["code"], defaults={"category": row["category"], "name": row["name"]})
    return len(rows)

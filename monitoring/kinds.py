"""The sensor kinds the product ships (data/kinds.csv): units, physical ranges, the catalogue subclass an alarm
is filed under and default thresholds. Loaded by a migration; edited afterwards in the admin."""

import csv
from pathlib import Path

KINDS_CSV = Path(__file__).resolve().parent / "data" / "kinds.csv"
_FLOATS = ("physical_min", "physical_max", "warn_above", "alarm_above", "warn_below", "alarm_below", "hysteresis",
           "rate_warn", "rate_alarm")


def kind_rows() -> list[dict]:
    rows = []
    with KINDS_CSV.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            values = {"code": row["code"], "name": row["name_zh"], "unit": row["unit"], "category": row["category"],
                      "emergency": row["emergency"] == "1",
                      "min_duration_s": int(row["min_duration_s"]) if row["min_duration_s"] else None}
            values.update({k: float(row[k]) if row.get(k) else None for k in _FLOATS})
            rows.append(values)
    return rows


def load_kinds(model) -> int:
    """Create the shipped kinds that are missing (an edited kind is left as it is)."""
    created = 0
    # A migration passes its historical model, which may lack fields added since: those are left out.
    fields = {f.name for f in model._meta.get_fields()}
    for values in kind_rows():
        values = {k: v for k, v in values.items() if k in fields}
        _, made = model.objects.get_or_create(code=values["code"], defaults=values)
        created += made
    return created

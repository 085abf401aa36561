"""The GB/T 30428 / CJ/T 214 catalogue shipped as data (incidents/data/catalogue.csv), loaded by a
migration and editable in the admin; `load_catalogue` (re)applies the file."""

import csv
import re
import time
from pathlib import Path

CATALOGUE_CSV = Path(__file__).parent / "data" / "catalogue.csv"
_LIMIT = re.compile(r"^(emergency|urgent|normal)=(\d+)([hd])$")
PREFIX = {"component": "BJ", "event": "SJ"}


def read_catalogue(path: Path = CATALOGUE_CSV) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["kind"] not in PREFIX or not row["code"].isdigit() or len(row["code"]) not in (2, 4):
                raise ValueError(f"{path.name} line {line}: bad kind or code")
            limits = []
            for part in filter(None, (row.get("limits") or "").split(";")):
                match = _LIMIT.match(part.strip())
                if not match:
                    raise ValueError(f"{path.name} line {line}: bad time limit {part!r}")
                limits.append((match[1], int(match[2]), "hours" if match[3] == "h" else "days"))
            if len(row["code"]) == 4 and not limits:
                raise ValueError(f"{path.name} line {line}: a subclass needs its time limits")
            rows.append({**row, "code": PREFIX[row["kind"]] + row["code"], "limits": limits,
                         "photo_required": row["photo_required"] == "1"})
    return rows


def load_catalogue(category_model, time_limit_model, path: Path = CATALOGUE_CSV) -> int:
    """Create or update every class and subclass of the file; returns how many rows it holds."""
    rows = read_catalogue(path)
    majors = {}
    for row in rows:
        parent = None if len(row["code"]) == 4 else majors[row["code"][:4]]
        obj, _ = category_model.objects.update_or_create(
            code=row["code"],
            defaults={"kind": row["kind"], "name_zh": row["name_zh"], "name_en": row["name_en"], "parent": parent,
                      "default_bureau_kind": row["bureau_kind"], "photo_required": row["photo_required"]})
        if parent is None:
            majors[row["code"]] = obj
        for urgency, amount, unit in row["limits"]:
            time_limit_model.objects.update_or_create(category=obj, urgency=urgency,
                                                      defaults={"amount": amount, "unit": unit})
    return len(rows)


_CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, object]] = {}


def subclass(code: str):
    """The active subclass with this code (its `urgencies` attached), or None. Every report looks one up:
    answers are kept for 30 s per process, so an edit in the admin applies within half a minute."""
    from .models import Category

    now = time.monotonic()
    hit = _cache.get(code)
    if hit is not None and hit[0] > now:
        return hit[1]
    category = (Category.objects.filter(code=code, parent__isnull=False, active=True)
                .prefetch_related("time_limits").first())
    if category is not None:
        category.urgencies = frozenset(t.urgency for t in category.time_limits.all())
    if len(_cache) > 1000:
        _cache.clear()
    _cache[code] = (now + _CACHE_SECONDS, category)
    return category


def forget_cached() -> None:
    _cache.clear()

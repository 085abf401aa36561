"""The warning types, as data: code, name and CAP <category>, in the order the issuing form lists them — the
meteorological warnings of 气象灾害预警信号 and the city's own (内涝, 地质灾害, lifelines). Loaded by the first
migration, and again by `load_demo` and tests after a flush (idempotent)."""

TYPES = [
    ("rainstorm", "暴雨", "Met"), ("typhoon", "台风", "Met"), ("heat", "高温", "Met"), ("cold-wave", "寒潮", "Met"),
    ("gale", "大风", "Met"), ("thunder", "雷电", "Met"), ("hail", "冰雹", "Met"), ("fog", "大雾", "Met"),
    ("haze", "霾", "Met"), ("road-icing", "道路结冰", "Met"), ("blizzard", "暴雪", "Met"), ("frost", "霜冻", "Met"),
    ("drought", "干旱", "Met"), ("urban-flooding", "城市内涝", "Met"), ("flood", "洪水", "Met"),
    ("geohazard", "地质灾害", "Geo"), ("forest-fire", "森林火险", "Fire"), ("gas", "燃气安全", "Infra"),
    ("water-supply", "供水安全", "Infra"), ("other", "其他", "Other"),
]


def load_types(model=None) -> int:
    """Create the missing types and refresh the shipped ones' names; returns how many were created."""
    if model is None:
        from .models import WarningType as model
    created = 0
    for i, (code, name, category) in enumerate(TYPES):
        created += model.objects.update_or_create(code=code, defaults={"name": name, "cap_category": category,
                                                                       "ordering": i * 10})[1]
    return created

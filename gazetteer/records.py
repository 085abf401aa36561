"""The stored form of roads and addresses: their display text and search text, made one way for the importer,
the demo city and the benchmark."""

import re

from django.conf import settings

from .normalise import DEFAULT_PREFIXES, normalise, parse, sound_text, trigram_text

_LEADING_NUMBER = re.compile(r"^(\d+)")


def split_aliases(value: str) -> list[str]:
    """Aliases as files write them: separated by |, ;, ；, 、 or commas."""
    return [a.strip() for a in re.split(r"[|;；、,，]", value or "") if a.strip()]


def name_prefixes() -> tuple[str, ...]:
    """What is dropped from the front of a landmark's name, stored or searched: the province and the city in
    full (湘潭市中心医院 is said 中心医院), never their short forms (湘潭大学 stays itself)."""
    return tuple(p for p in getattr(settings, "GAZETTEER_PREFIXES", DEFAULT_PREFIXES) if p.endswith(("省", "市")))


def name_texts(names: list[str]) -> list[tuple[str, str]]:
    """(text, sound) of each name, as searched (gazetteer.models.Name)."""
    out = []
    prefixes = name_prefixes()
    for name in dict.fromkeys(n for n in names if n):
        text = normalise(name, prefixes=prefixes).text
        if text:
            out.append((trigram_text(text), sound_text(text)))
    return out


def clean_number(number: str) -> str:
    """A door number as stored: digits (and -digits), without 号: "12号" → "12", "十二" → "12"."""
    text = normalise(f"{number}号" if number and not str(number).endswith(("号", "號")) else number or "").text
    found = parse(text)
    return found.number or text.removesuffix("号")


def clean_sub(sub: str) -> str:
    """Building, unit, room as stored: normalised ("3幢二单元" → "3栋2单元")."""
    return normalise(sub or "", prefixes=()).text


def address_text(kind: str, road: str, number: str, sub: str, name: str) -> str:
    """How an address is shown: 韶山路12号3栋, or a landmark's name (with its door number when known)."""
    door = f"{road}{number}号" if road and number else road
    if kind == "poi" and name:
        return f"{name}（{door}）" if door else name
    return f"{door}{sub}" if door else (name or sub)


def address_texts(kind: str, road: str, number: str, sub: str, name: str) -> dict:
    """The derived columns of an address: shown text, number value."""
    m = _LEADING_NUMBER.match(number or "")
    return {"text": address_text(kind, road, number, sub, name)[:200],
            "number_value": int(m.group(1)) if m else None}

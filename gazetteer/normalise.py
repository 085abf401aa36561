"""Normalising addresses as people write and say them (地名地址的规范化): one plain function for the stored
text and the operator's query alike, so that both meet in the same form.

- full-width → half-width (NFKC), lower case, spaces and punctuation dropped;
- Chinese numerals before a unit (十二号, 三栋, 二单元) → digits;
- 号院 → 号, 幢/座/号楼 → 栋, 門 variants of the same unit → one spelling;
- the province, the city and a district's name at the front dropped (callers rarely say them, files often do):
  what was dropped is kept, so a district named by the caller can still weigh in the score.

`parse` then splits "xx路12号3栋2单元" into road, door number and the rest (building, unit, room).
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# What callers and files put in front of an address and the gazetteer does without.
DEFAULT_PREFIXES = ("中国", "湖南省", "湖南", "湘潭市", "湘潭")

_CN_DIGITS = {"零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = re.compile(r"[零〇○一二两三四五六七八九十百千]+(?=(号|栋|幢|座|单元|楼|层|室|户|门|组|弄|巷))")
# Units spelt several ways, to one spelling; the longest first.
_SYNONYMS = (("号院", "号"), ("号大院", "号"), ("号楼", "栋"), ("幢", "栋"), ("座", "栋"), ("單元", "单元"),
             ("號", "号"), ("门牌", ""), ("附近", ""), ("对面", ""), ("旁边", ""), ("门口", ""))
_DROP = re.compile(r"[\s\u3000,，.。、;；:：!！?？\"'“”‘’()（）\[\]【】<>《》/\\|_~·•#＃]+")
_ROAD_WORDS = "路街道巷弄里桥"
_DASH = re.compile(r"[‐‑‒–—―－~～]")


def chinese_number(text: str) -> int | None:
    """十二 → 12, 一百零五 → 105, 二〇三 → 203 (digit by digit); None for what is not a number below 10,000."""
    if not text:
        return None
    if all(c in _CN_DIGITS for c in text):  # 二〇三: read digit by digit, as door numbers are said
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    total, digit = 0, 0
    for c in text:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        elif c in _CN_UNITS:
            total += (digit or 1) * _CN_UNITS[c]
            digit = 0
        else:
            return None
    return total + digit


def _numerals(text: str) -> str:
    def repl(m: re.Match) -> str:
        value = chinese_number(m.group(0))
        return m.group(0) if value is None else str(value)

    return _CN_NUMBER.sub(repl, text)


@dataclass(frozen=True)
class Normalised:
    text: str  # the normalised address
    dropped: tuple[str, ...] = ()  # prefixes taken off the front (a district named by the caller)


def normalise(text: str, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> Normalised:
    """The normal form of an address or a query (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _DASH.sub("-", text)
    text = _DROP.sub("", text)
    for old, new in _SYNONYMS:
        text = text.replace(old, new)
    text = _numerals(text)
    dropped: list[str] = []
    ordered = sorted({p for p in prefixes if p}, key=len, reverse=True)
    changed = True
    while changed and text:  # 湖南省湘潭市雨湖区…: each prefix in turn, in any order
        changed = False
        for prefix in ordered:
            # "韶山" (韶山市) is not dropped from 韶山路: a road's name goes on after it
            if text.startswith(prefix) and len(text) > len(prefix) and text[len(prefix)] not in _ROAD_WORDS:
                text = text[len(prefix):]
                dropped.append(prefix)
                changed = True
                break
    return Normalised(text, tuple(dropped))


_ADDRESS = re.compile(r"^(?P<road>.*?)(?P<number>\d+(?:-\d+)?)(?:号|$|(?=[^\d]))(?P<sub>.*)$")


@dataclass(frozen=True)
class Parsed:
    road: str  # what comes before the door number: the road's name (may be empty or a landmark)
    number: str  # the door number, "12" or "12-1"; empty when none was given
    sub: str  # building, unit, room after it: "3栋2单元"


def parse(normalised_text: str) -> Parsed:
    """Split a normalised address into road, door number and the rest. Without a number it is all road."""
    m = _ADDRESS.match(normalised_text)
    if not m:
        return Parsed(normalised_text, "", "")
    if m["sub"].startswith(("栋", "单元", "层", "室")):  # "韶山路3栋": a building, no door number said
        return Parsed(m["road"], "", m["number"] + m["sub"])
    return Parsed(m["road"], m["number"], m["sub"])


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|\d+|[a-z]+")


def trigram_text(normalised_text: str) -> str:
    """The text pg_trgm indexes: every Chinese character a word of its own, digits and Latin runs as words.

    pg_trgm cuts trigrams within words; a Chinese name has no spaces, so "建没路" (a typo) would share a single
    trigram with "建设路". Characters as words make the similarity the share of characters in common (two
    of three here), which is what tolerating a slip of the ear or the keyboard needs."""
    return " ".join(_TOKEN.findall(normalised_text))


def sound_text(normalised_text: str) -> str:
    """The sound of a name, toneless pinyin syllables as words ("shao shan lu"): what was heard on the phone
    (绍山路 for 韶山路) meets the name by sound where the characters differ."""
    from pypinyin import lazy_pinyin  # imported here: its dictionaries load only when sound is wanted

    return " ".join(w for part in lazy_pinyin(normalised_text) for w in _TOKEN.findall(part.lower()))

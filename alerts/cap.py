"""CAP 1.2 (OASIS Common Alerting Protocol) documents for warnings, and the Atom index of those in force.

Written with the standard library's ElementTree: the documents are small, flat and written once, the
namespace handling is enough (one default namespace), and it adds no dependency; lxml would bring nothing
the schema check needs, since xmlschema validates ElementTree trees itself. Every document is checked against
OASIS's schema (`schema/CAP-v1.2.xsd`, vendored) before it is stored, plus what the schema leaves as a bare
string: polygons closed, of at least four lat,lon pairs, and times with their offset."""

import re
import xml.etree.ElementTree as ET
from datetime import datetime
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import MultiPolygon
from django.utils import timezone

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS = "http://www.w3.org/2005/Atom"
SCHEMA_PATH = Path(__file__).parent / "schema" / "CAP-v1.2.xsd"
CAP_MEDIA_TYPE = "application/cap+xml"

# China's four colours as CAP severities (as the national warning release system maps them), and how soon.
SEVERITY = {"red": "Extreme", "orange": "Severe", "yellow": "Moderate", "blue": "Minor"}
URGENCY = {"red": "Immediate", "orange": "Immediate", "yellow": "Expected", "blue": "Future"}
MSG_TYPE = {"issue": "Alert", "update": "Update", "cancel": "Cancel"}
# CAP forbids spaces, commas and < & in sender and identifier (they separate references).
_RESTRICTED = re.compile(r"[\s,<&]")
_CAP_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")


class CapError(Exception):
    """A document that would not be valid CAP 1.2 (a bug, or a sender/identifier setting that breaks the rules)."""


@cache
def schema():
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def cap_time(moment: datetime) -> str:
    """CAP's dateTime: seconds, and the offset written out (never 'Z', never microseconds) — local time."""
    local = timezone.localtime(moment).replace(microsecond=0)
    return local.isoformat()


def sender() -> str:
    value = settings.CAP_SENDER
    if not value or _RESTRICTED.search(value):
        raise CapError("CAP_SENDER must be non-empty, without spaces, commas, < or &")
    return value


def polygons(area: MultiPolygon) -> list[str]:
    """CAP <polygon>s: each outer ring as space-separated 'lat,lon' pairs, first pair repeated last (holes have
    no place in CAP; the rules refuse them before this)."""
    out = []
    for polygon in area:
        ring = list(polygon.exterior_ring.coords)
        if ring[0] != ring[-1]:
            ring.append(ring[0])
        out.append(" ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in ring))
    return out


def reference(log) -> str:
    """One entry of <references>: sender,identifier,sent."""
    return f"{sender()},{log.identifier},{cap_time(log.sent)}"


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    element.text = value
    return element


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    _text(element, "valueName", name)
    _text(element, "value", value)


def document(*, identifier: str, sent: datetime, action: str, warning, references: str, note: str,
             sender_name: str, geocodes: list[str]) -> str:
    """The CAP 1.2 document of one issue, update or cancel of `warning` (its content as it stands after it)."""
    alert = ET.Element(f"{{{CAP_NS}}}alert")
    _text(alert, "identifier", identifier)
    _text(alert, "sender", sender())
    _text(alert, "sent", cap_time(sent))
    _text(alert, "status", "Exercise" if warning.exercise else "Actual")
    _text(alert, "msgType", MSG_TYPE[action])
    _text(alert, "scope", "Public")
    if note:
        _text(alert, "note", note)
    if references:
        _text(alert, "references", references)
    if warning.incident:
        _text(alert, "incidents", warning.incident)
    info = ET.SubElement(alert, f"{{{CAP_NS}}}info")
    _text(info, "language", "zh-CN")
    _text(info, "category", warning.type.cap_category)
    _text(info, "event", warning.type.name)
    _text(info, "responseType", "AllClear" if action == "cancel" else "Prepare")
    _text(info, "urgency", "Past" if action == "cancel" else URGENCY[warning.level])
    _text(info, "severity", SEVERITY[warning.level])
    _text(info, "certainty", "Likely")
    _pair(info, "eventCode", "CityGrid-WarningType", warning.type.code)
    _text(info, "effective", cap_time(warning.effective))
    _text(info, "expires", cap_time(warning.expires))
    _text(info, "senderName", sender_name)
    _text(info, "headline", warning.headline)
    _text(info, "description", warning.description)
    if warning.instruction:
        _text(info, "instruction", warning.instruction)
    _pair(info, "parameter", "WarningLevel", warning.level)
    area = ET.SubElement(info, f"{{{CAP_NS}}}area")
    _text(area, "areaDesc", warning.area_desc)
    for ring in polygons(warning.area):
        _text(area, "polygon", ring)
    for code in geocodes:  # the county-level divisions it touches, by their GB/T 2260 codes
        _pair(area, "geocode", "GB/T 2260", code)
    ET.register_namespace("", CAP_NS)
    xml = ET.tostring(alert, encoding="unicode", xml_declaration=False)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n"
    check(text)
    return text


def check(text: str) -> None:
    """Valid against OASIS's schema, and what the schema leaves as strings: polygons, sender, identifier."""
    tree = ET.fromstring(text.encode())
    errors = [str(e.reason or e.message) for e in schema().iter_errors(tree)]
    ns = {"cap": CAP_NS}
    for field in ("identifier", "sender"):
        value = tree.findtext(f"cap:{field}", default="", namespaces=ns)
        if _RESTRICTED.search(value):
            errors.append(f"{field} holds a space, comma, < or &")
    for ring in tree.iterfind(".//cap:polygon", ns):
        pairs = (ring.text or "").split(" ")
        if len(pairs) < 4 or pairs[0] != pairs[-1]:
            errors.append("a polygon must be closed and have at least four pairs")
        for pair in pairs:
            try:
                lat, lon = (float(v) for v in pair.split(","))
            except ValueError:
                errors.append(f"polygon pair {pair!r} is not lat,lon")
                break
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                errors.append(f"polygon pair {pair!r} out of range")
                break
    for when in tree.iterfind(".//cap:*", ns):
        if when.tag.split("}")[1] in ("sent", "effective", "onset", "expires") and not _CAP_TIME.match(when.text or ""):
            errors.append(f"{when.tag} without its offset")
    if errors:
        raise CapError("; ".join(errors))


def atom(*, entries: list[dict], self_url: str, page_url: str, title: str, updated: datetime) -> str:
    """The Atom (RFC 4287) index: one entry per warning in force, its latest CAP document as the link."""
    ET.register_namespace("", ATOM_NS)

    def el(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    el(feed, "id", f"urn:citygrid:{sender()}:warnings")
    el(feed, "title", title)
    el(feed, "updated", cap_time(updated))
    el(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    el(feed, "link", rel="alternate", href=page_url, type="text/html")
    author = el(feed, "author")
    el(author, "name", sender())
    for entry in entries:
        item = el(feed, "entry")
        el(item, "id", f"urn:citygrid:{sender()}:{entry['identifier']}")
        el(item, "title", entry["title"])
        el(item, "updated", cap_time(entry["updated"]))
        el(item, "published", cap_time(entry["published"]))
        author = el(item, "author")
        el(author, "name", entry["author"])
        el(item, "summary", entry["summary"])
        el(item, "category", term=entry["level"], label=entry["level_label"])
        el(item, "link", rel="alternate", href=entry["cap_url"], type=CAP_MEDIA_TYPE)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"

"""Issuing, updating and cancelling warnings: the rules, in plain functions. Each action appends one log row with
the CAP document it publishes (checked against the schema first), all in one transaction.

A drill (演练) goes through the same flows; its documents say status Exercise, and it is never published (not in
the feed, not on the public page, no public CAP document) nor counted in the figures."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from grids.models import Area, Level

from . import cap, scoping
from .models import LEVEL_ORDER, EarlyWarning, WarningLevel, WarningLog, WarningType

MAX_POLYGONS = 20
MAX_VERTICES = 1000
MAX_DURATION = timedelta(days=30)  # a warning is about the coming hours or days; longer is a typo
BACKDATE = timedelta(hours=1)  # an effective time a little in the past is a clock; more is a mistake
EDGE_TOLERANCE = 0.0005  # degrees (~50 m): a district's area drawn by hand may graze its boundary


class InvalidWarning(Exception):
    """Refused on its merits: field → messages (HTTP 400)."""

    def __init__(self, errors: dict[str, list[str] | str]):
        super().__init__(errors)
        self.errors = {k: v if isinstance(v, list) else [v] for k, v in errors.items()}


class Conflict(Exception):
    """Someone changed the warning since the caller read it (HTTP 409)."""


@dataclass
class Draft:
    type: str
    level: str
    headline: str
    description: str
    area: dict | str  # GeoJSON Polygon or MultiPolygon, WGS84
    expires: datetime
    instruction: str = ""
    area_desc: str = ""
    effective: datetime | None = None
    exercise: bool = False
    incident: str = ""  # the incident's number (emergency.command.issue_warning)


@dataclass
class Change:
    version: int
    level: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    area_desc: str | None = None
    area: dict | str | None = None
    expires: datetime | None = None
    note: str = ""
    changed: dict = field(default_factory=dict)


def in_force(qs: QuerySet | None = None, *, now: datetime | None = None) -> QuerySet:
    """Warnings not cancelled and not yet expired (drills included: callers choose)."""
    qs = EarlyWarning.objects.all() if qs is None else qs
    return qs.filter(state=EarlyWarning.State.ACTIVE, expires__gt=now or timezone.now())


def published(now: datetime | None = None) -> QuerySet:
    """What the public sees: warnings in force that are not drills."""
    return in_force(now=now).filter(exercise=False)


def figures(qs: QuerySet) -> dict[str, int]:
    """Warnings in force per level — drills never counted."""
    counts = dict.fromkeys(WarningLevel.values, 0)
    for level in in_force(qs).filter(exercise=False).values_list("level", flat=True):
        counts[level] += 1
    return counts


def parse_area(value: dict | str) -> MultiPolygon:
    """A drawn area as GeoJSON (Polygon or MultiPolygon, lon/lat WGS84) → a valid MultiPolygon without holes."""
    import json

    from django.contrib.gis.gdal import GDALException

    refused = InvalidWarning({"area": _("Draw the area on the map (a polygon).")})
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise refused from exc
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise refused
    try:
        geom = GEOSGeometry(json.dumps(value), srid=4326)
    except (GEOSException, GDALException, ValueError, TypeError, OverflowError) as exc:
        raise refused from exc
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=4326)
    if not isinstance(geom, MultiPolygon) or geom.empty:
        raise InvalidWarning({"area": _("Draw the area on the map (a polygon).")})
    if len(geom) > MAX_POLYGONS or any(p.num_points > MAX_VERTICES for p in geom):
        raise InvalidWarning({"area": _("The area has too many polygons or points.")})
    if any(len(p) > 1 for p in geom):
        raise InvalidWarning({"area": _("An area cannot have holes (CAP has none).")})
    if not geom.valid or geom.area <= 0:
        raise InvalidWarning({"area": _("The area's outline crosses itself; draw it again.")})
    if any(not (-180 <= x <= 180 and -90 <= y <= 90) for p in geom for x, y in p.exterior_ring.coords):
        raise InvalidWarning({"area": _("The area is not in longitude and latitude.")})
    return geom


def _check_area(user: AbstractBaseUser, area: MultiPolygon) -> None:
    district = scoping.user_district_id(user)
    if district:
        boundary = Area.objects.get(pk=district).geom.buffer(EDGE_TOLERANCE)
        if not boundary.covers(area):
            raise InvalidWarning({"area": _("A district's centre warns within its own district.")})
        return
    city = Area.objects.filter(level=Level.CITY).first()
    if city is not None and not city.geom.intersects(area):
        raise InvalidWarning({"area": _("The area is outside the city.")})


def _districts(area: MultiPolygon) -> list[Area]:
    return list(Area.objects.filter(level=Level.DISTRICT, geom__intersects=area).order_by("code"))


def _texts(errors: dict, **values: str | None) -> None:
    limits = {"headline": 160, "description": 4000, "instruction": 4000, "area_desc": 200, "note": 500}
    for name, value in values.items():
        if value is None:
            continue
        if name in ("headline", "description") and not value.strip():
            errors[name] = _("This field is required.")
        elif len(value) > limits[name]:
            errors[name] = _("At most %(n)d characters.") % {"n": limits[name]}
        elif any(ord(c) < 32 and c not in "\n\r\t" for c in value):
            errors[name] = _("Control characters are not allowed.")


def _sender_name(warning: EarlyWarning) -> str:
    with translation.override("zh-hans"):
        place = warning.district.name if warning.district_id else (
            Area.objects.filter(level=Level.CITY).values_list("name", flat=True).first() or _("City"))
        return _("%(place)s command centre") % {"place": place}


def _append(warning: EarlyWarning, action: str, actor: AbstractBaseUser, *, note: str = "",
            changes: dict | None = None) -> WarningLog:
    """The log row and its CAP document; the references name every earlier document of the warning, the
    original first."""
    earlier = list(warning.log.order_by("seq"))
    seq = len(earlier) + 1
    sent = timezone.now().replace(microsecond=0)
    identifier = f"{cap.sender()}.{timezone.localtime(warning.issued_at):%Y%m%d}.{warning.pk:06d}.{seq}"
    references = " ".join(cap.reference(e) for e in earlier)
    xml = cap.document(identifier=identifier, sent=sent, action=action, warning=warning, references=references,
                       note=note, sender_name=_sender_name(warning),
                       geocodes=[d.code for d in _districts(warning.area)])
    return WarningLog.objects.create(warning=warning, seq=seq, action=action, actor=actor, sent=sent,
                                     identifier=identifier, references=references, note=note,
                                     changes=changes or {}, cap_xml=xml)


def issue(user: AbstractBaseUser, draft: Draft) -> EarlyWarning:
    if not scoping.may_issue(user):
        raise InvalidWarning({"detail": _("Only a command centre's dispatcher issues warnings.")})
    errors: dict = {}
    kind = WarningType.objects.filter(code=draft.type).first()
    if kind is None:
        errors["type"] = _("Choose a warning type.")
    if draft.level not in WarningLevel.values:
        errors["level"] = _("Choose a level: blue, yellow, orange or red.")
    _texts(errors, headline=draft.headline, description=draft.description, instruction=draft.instruction,
           area_desc=draft.area_desc)
    now = timezone.now()
    effective = draft.effective or now
    if effective < now - BACKDATE:
        errors["effective"] = _("The effective time is in the past.")
    if draft.expires <= max(effective, now):
        errors["expires"] = _("The expiry must be after the effective time and in the future.")
    elif draft.expires - effective > MAX_DURATION:
        errors["expires"] = _("A warning lasts at most 30 days.")
    try:
        area = parse_area(draft.area)
        _check_area(user, area)
    except InvalidWarning as exc:
        errors.update(exc.errors)
        area = None
    if errors:
        raise InvalidWarning(errors)
    district_id = scoping.user_district_id(user)
    area_desc = draft.area_desc.strip() or "、".join(d.name for d in _districts(area)) or kind.name
    with transaction.atomic():
        warning = EarlyWarning.objects.create(
            type=kind, level=draft.level, headline=draft.headline.strip(), description=draft.description.strip(),
            instruction=draft.instruction.strip(), area_desc=area_desc, area=area, effective=effective,
            expires=draft.expires, district_id=district_id, exercise=draft.exercise, incident=draft.incident,
            issued_by=user, issued_at=now, updated_at=now)
        _append(warning, "issue", user)
    return warning


def _ensure_may_change(user: AbstractBaseUser, warning: EarlyWarning) -> None:
    """Before anything else is read or checked: a centre that may read a warning (the city's, across districts)
    may not therefore change it (403)."""
    if not scoping.may_change(user, warning):
        raise PermissionDenied(_("This warning is another centre's: only it, or the city's centre, may change it."))


def _locked(user: AbstractBaseUser, warning: EarlyWarning, version: int) -> EarlyWarning:
    _ensure_may_change(user, warning)
    current = EarlyWarning.objects.select_for_update(of=("self",)).select_related("type", "district").get(
        pk=warning.pk)
    if current.version != version:
        raise Conflict(_("Someone else changed this warning meanwhile; it is shown afresh."))
    if current.state == EarlyWarning.State.CANCELLED:
        raise InvalidWarning({"detail": _("This warning has been cancelled.")})
    if current.expires <= timezone.now():
        raise InvalidWarning({"detail": _("This warning has expired.")})
    return current


def update(user: AbstractBaseUser, warning: EarlyWarning, change: Change) -> EarlyWarning:
    """An Update: any of level, texts, area and expiry; the type, the effective time and the drill mark stay."""
    _ensure_may_change(user, warning)
    errors: dict = {}
    if change.level is not None and change.level not in WarningLevel.values:
        errors["level"] = _("Choose a level: blue, yellow, orange or red.")
    _texts(errors, headline=change.headline, description=change.description, instruction=change.instruction,
           area_desc=change.area_desc, note=change.note)
    area = None
    if change.area is not None:
        try:
            area = parse_area(change.area)
            _check_area(user, area)
        except InvalidWarning as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidWarning(errors)
    with transaction.atomic():
        current = _locked(user, warning, change.version)
        if change.expires is not None and (change.expires <= timezone.now()
                                           or change.expires - current.effective > MAX_DURATION):
            raise InvalidWarning({"expires": _("The expiry must be in the future, within 30 days of the effective "
                                               "time; to end a warning now, cancel it.")})
        changed = {}
        for name in ("level", "headline", "description", "instruction", "area_desc", "expires"):
            value = getattr(change, name)
            if isinstance(value, str):
                value = value.strip()
            if value is not None and value != getattr(current, name):
                changed[name] = [str(getattr(current, name)), str(value)]
                setattr(current, name, value)
        if area is not None and not area.equals_exact(current.area, tolerance=1e-9):
            changed["area"] = True
            current.area = area
        if not changed:
            raise InvalidWarning({"detail": _("Nothing changed.")})
        if "level" in changed:  # 升级 / 降级, said in the log
            changed["direction"] = "up" if LEVEL_ORDER[current.level] > LEVEL_ORDER[changed["level"][0]] else "down"
        current.version += 1
        current.updated_at = timezone.now()
        current.save()
        _append(current, "update", user, note=change.note.strip(), changes=changed)
    return current


def cancel(user: AbstractBaseUser, warning: EarlyWarning, *, version: int, note: str) -> EarlyWarning:
    """解除: a Cancel referencing every earlier document; the warning leaves the feed and the public page."""
    _ensure_may_change(user, warning)
    errors: dict = {}
    if not note.strip():
        errors["note"] = _("Say why the warning is cancelled.")
    _texts(errors, note=note)
    if errors:
        raise InvalidWarning(errors)
    with transaction.atomic():
        current = _locked(user, warning, version)
        current.state = EarlyWarning.State.CANCELLED
        current.cancelled_at = current.updated_at = timezone.now()
        current.version += 1
        current.save()
        _append(current, "cancel", user, note=note.strip())
    return current

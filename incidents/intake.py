"""Turning a report into a case: checked whole before anything is written, located, committed at once;
a retry with the same client id returns the case already made."""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from citygrid import prepared
from citygrid.audit import event
from citygrid.inserts import insert_sql, last_id
from citygrid.models import AuditEvent
from grids.locate import locate_many

from .catalogue import subclass
from .duplicates import likely_duplicate_numbers_sql
from .models import PUBLIC_SOURCES, Case, CaseLog, Category, Photo, Source, Urgency
from .photos import PhotoError, PreparedPhoto, prepare_photo
from .storage import removed_on_failure, store_photo


class IntakeError(ValueError):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(str(errors))
        self.errors = errors


@dataclass
class Report:
    lon: float | None
    lat: float | None
    category: str | None
    source: str
    client_uuid: uuid.UUID | None = None
    description: str = ""
    urgency: str = Urgency.NORMAL
    address: str = ""
    accuracy_m: float | None = None
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    photos: list = field(default_factory=list)  # uploaded files
    component: str = ""  # the code of the census component picked on the map
    census: str = ""  # "new": the component is not on the map; "missing": the picked one is gone


@dataclass
class Intake:
    case: Case
    created: bool
    duplicates: list[str]  # numbers of likely duplicates, oldest first
    codes: dict = field(default_factory=dict)  # cell and area codes, known without a query for a new case

    def summary(self) -> dict:
        """What the reporter needs back: the case number and where it was filed (no further queries for a
        new case)."""
        c = self.case
        if self.created:
            codes = self.codes
        else:  # a case found by its client id comes with its places (_case_with_uuid)
            codes = {k: getattr(c, k).code if getattr(c, k) else None
                     for k in ("cell", "community", "street", "district")}
        return {"id": c.number, "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [c.location.x, c.location.y]},
                "properties": {"number": c.number, "created": self.created, "status": c.status, "version": c.version,
                               "category": c.category.code, "urgency": c.urgency, "source": c.source, **codes,
                               "created_at": c.created_at.isoformat(), "likely_duplicates": self.duplicates}}


def _census_change(case: Case, report: Report, reporter) -> None:
    """A reported new or missing component waits for staff to approve it as a census change (assets)."""
    from assets.models import CensusChange

    CensusChange.objects.create(kind=report.census, subclass=case.category.code, location=case.location,
                                component=case.component, case_number=case.number, reported_by=reporter,
                                note=case.description[:200])


_NUMBER = "%s || lpad(({}('incidents_case_number_seq') %% 1000000)::text, 6, '0')"


def _number_sql() -> tuple[str, list]:
    """A new case's number: the prefix, the day, the next of the sequence's last six digits (SQL, so that it
    is drawn in the statement that writes the case)."""
    return _NUMBER.format("nextval"), [f"{settings.CASE_NUMBER_PREFIX}{timezone.localdate():%Y%m%d}"]


def _write_report(case: Case, entry: CaseLog, audit: AuditEvent) -> list[str]:
    """Insert the new case, its report entry and its audit record in one round trip (citygrid.inserts says
    why), each a statement prepared on the connection, filling in the ids and the number the database gave
    them; the same round trip finds the case's likely duplicates, whose numbers it returns."""
    number, prefix = _number_sql()
    # The number just drawn, made again from the sequence's value in this session: no read of the case.
    drawn = _NUMBER.format("currval")
    duplicates, near = likely_duplicate_numbers_sql(case, exclude=last_id(Case))
    statements = [insert_sql(case, {"number": (number, prefix)}),
                  insert_sql(entry, {"case_id": (last_id(Case), [])}),
                  insert_sql(audit, {"target": (f"%s::text || {drawn}", [audit.target, *prefix])}),
                  (f"SELECT {last_id(Case)}, {drawn}, {last_id(CaseLog)}, {duplicates}", [*prefix, *near])]
    with connection.cursor() as cur:
        prepared.execute_many(cur, statements)
        case.id, case.number, entry.id, numbers = cur.fetchone()
    for obj in (case, entry):
        obj._state.adding, obj._state.db = False, connection.alias
    case._stored_at = case.created_at  # the month its row lies in (Case.from_db)
    entry.case = case
    return numbers


_PLACES = ("category", "cell", "community", "street", "district")  # what a retry is answered with (summary)


def _case_with_uuid(client_uuid: uuid.UUID) -> Case | None:
    # Every report asks this first, and almost always finds nothing: a plain statement on the case keys (one
    # index, however many months the cases span), the ORM only on a hit, in the case's own month.
    with connection.cursor() as cur:
        prepared.execute(cur, "SELECT id, created_at FROM incidents_casekey WHERE client_uuid = %s", [client_uuid])
        row = cur.fetchone()
    if row is None:
        return None
    try:
        return Case.objects.select_related(*_PLACES).get(pk=row[0], created_at=row[1])
    except Case.DoesNotExist:
        # the key outlives its case for a while when the case's month is archived (its keys leave after the
        # move, incidents.archive.finish_keys): the report was made long ago, and cannot be shown again
        raise IntakeError({"client_uuid": [_("The case reported with this client id is archived: "
                                             "report again with a new client id.")]}) from None



def _check(report: Report) -> tuple[dict[str, list[str]], Category | None, list[PreparedPhoto]]:
    errors: dict[str, list[str]] = {}
    if report.lon is None or report.lat is None:
        errors["location"] = [_("Give the position: lon and lat.")]
    elif not (-180 <= report.lon <= 180 and -90 <= report.lat <= 90):
        errors["location"] = [_("Not a WGS84 longitude/latitude.")]
    category = None
    if not report.category:
        errors["category"] = [_("Choose a category.")]
    else:
        category = subclass(report.category)
        if category is None:
            errors["category"] = [_("Unknown category %(code)s.") % {"code": report.category}]
    if report.urgency not in Urgency.values:
        errors["urgency"] = [_("Choose one of: %(values)s.") % {"values": ", ".join(Urgency.values)}]
    elif category is not None and report.urgency not in category.urgencies:
        errors["urgency"] = [_("%(category)s has no %(urgency)s time limit.")
                             % {"category": category.name_zh, "urgency": report.urgency}]
    if len(report.description) > settings.CASE_DESCRIPTION_MAX:
        errors["description"] = [_("At most %(n)d characters.") % {"n": settings.CASE_DESCRIPTION_MAX}]
    # Each text must fit its column: a field message here, never a database error (a 500) at save.
    for name in ("address", "contact_name", "contact_phone", "contact_email"):
        limit = Case._meta.get_field(name).max_length
        if len(getattr(report, name)) > limit:
            errors[name] = [_("At most %(n)d characters.") % {"n": limit}]
    if report.contact_email and "contact_email" not in errors:
        try:
            validate_email(report.contact_email.strip())
        except ValidationError:
            errors["contact_email"] = [_("Not an e-mail address.")]
    for name in ("description", "address", "contact_name", "contact_phone", "contact_email"):
        if "\x00" in getattr(report, name):
            errors[name] = [_("A NUL character is not allowed.")]
    if report.accuracy_m is not None and not 0 <= report.accuracy_m <= 100_000:
        errors["accuracy_m"] = [_("Metres between 0 and 100000.")]
    if report.source not in Source.values:
        errors["source"] = [_("Unknown source.")]
    if len(report.photos) > settings.PHOTO_MAX_COUNT:
        errors["photos"] = [_("At most %(n)d photos.") % {"n": settings.PHOTO_MAX_COUNT}]
    if (category is not None and category.photo_required and report.source == Source.INSPECTOR
            and not report.photos and "photos" not in errors):
        errors["photos"] = [_("%(category)s needs a photo.") % {"category": category.name_zh}]
    _check_component(report, category, errors)
    prepared: list[PreparedPhoto] = []
    if not errors:  # decoding is the expensive part: only for a report that is otherwise acceptable
        for upload in report.photos:
            try:
                prepared.append(prepare_photo(upload, keep_metadata=report.source not in PUBLIC_SOURCES))
            except PhotoError as exc:
                errors.setdefault("photos", []).append(str(exc))
    return errors, category, prepared


def _check_component(report: Report, category: Category | None, errors: dict[str, list[str]]) -> None:
    """A picked component must be of the reported subclass and near the report; a census change needs a
    component subclass (and, for a missing one, the component)."""
    from assets.models import Component

    if report.census not in ("", "new", "missing"):
        errors["census"] = [_("Choose new or missing.")]
        return
    if not (report.component or report.census):
        return
    if category is None or category.kind != "component":
        errors["component"] = [_("Only a component category refers to a component.")]
        return
    if report.census == "new" and report.component:
        errors["census"] = [_("A component not on the map cannot be picked from it.")]
        return
    if report.census == "missing" and not report.component:
        errors["component"] = [_("Pick the component that is missing.")]
        return
    if report.component:
        component = Component.objects.filter(code=report.component).first()
        if component is None:
            errors["component"] = [_("No component %(code)s in the census.") % {"code": report.component}]
        elif component.subclass != category.code:
            errors["component"] = [_("Component %(code)s is not a %(category)s.")
                                   % {"code": component.code, "category": category.name_zh}]
        elif "location" not in errors and report.lon is not None and report.lat is not None:
            here = Point(report.lon, report.lat, srid=4326)
            distance = _metres(component.anchor(), here)
            if distance > settings.COMPONENT_PICK_MAX_M:
                errors["component"] = [_("Component %(code)s is %(m)d m from the report: not the one here.")
                                       % {"code": component.code, "m": distance}]
        report._component = component  # found once here, stored with the case by submit()


def _metres(a: Point, b: Point) -> float:
    import math

    lat = math.radians((a.y + b.y) / 2)
    return math.hypot((a.x - b.x) * 111_320 * math.cos(lat), (a.y - b.y) * 111_320)


def submit(report: Report, reporter=None) -> Intake:
    """Create the case a report describes; IntakeError (field → messages) if it cannot be accepted."""
    if report.client_uuid is not None:
        existing = _case_with_uuid(report.client_uuid)
        if existing is not None:
            return Intake(existing, False, [])
    errors, category, prepared = _check(report)
    location = None
    if not errors:
        location = locate_many([(report.lon, report.lat)])[0]
        if location is None or "district" not in location.areas:
            errors["location"] = [_("This location is outside the city's jurisdiction.")]
    if errors:
        raise IntakeError(errors)
    areas = location.areas
    now = timezone.now()  # reported, and in the reported status, from the same instant
    case = Case(created_at=now, status_since=now,
        client_uuid=report.client_uuid or uuid.uuid4(), location=Point(report.lon, report.lat, srid=4326),
        accuracy_m=report.accuracy_m, address=report.address.strip(), cell_id=location.cell_id,
        community_id=areas["community"].id if "community" in areas else None,
        street_id=areas["street"].id if "street" in areas else None, district_id=areas["district"].id,
        category=category, description=report.description.strip(), urgency=report.urgency, source=report.source,
        reporter=reporter, contact_name=report.contact_name.strip(), contact_phone=report.contact_phone.strip(),
        contact_email=report.contact_email.strip(), component=getattr(report, "_component", None),
    )
    try:
        entry = CaseLog(case=case, action="report", actor=reporter, to_status=case.status,
                        note=case.description[:200], location=case.location, created_at=now)
        entry.take_place()  # as save() would: the entry is written without it (_write_report)
        audit = event("case_report", user=reporter, target="case: ", detail=str(case.source))
        # The three rows are one transaction of their own (a multi-statement query is); photos and a census
        # change join them in one opened here, and within a caller's transaction a savepoint keeps a clash of
        # client ids from spoiling it.
        own = prepared or report.census or not connection.get_autocommit()
        with removed_on_failure(), (transaction.atomic() if own else nullcontext()):
            duplicates = _write_report(case, entry, audit)
            for p in prepared:
                store_photo(case, p, kind=Photo.Kind.BEFORE, log_entry=entry, user=reporter)
            if report.census:
                _census_change(case, report, reporter)
    except IntegrityError:
        # The same client id submitted twice at once: the other request made the case.
        existing = _case_with_uuid(case.client_uuid)
        if existing is None:
            raise
        return Intake(existing, False, [])
    codes = {"cell": location.cell_code, **{k: areas[k].code if k in areas else None
                                              for k in ("community", "street", "district")}}
    return Intake(case, True, duplicates, codes)

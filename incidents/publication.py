"""What the public may see of a case: ONE rule serving Open311 GET, the public map and the tracking page.

Publication is a decision kept as data (`PublicationRule`, in the admin), per category — a subclass or its
major class — and source: published or not, at what precision the place is shown (the exact point, the
centre of its grid cell, or its street), and whether the description and the after-photos are shown. The
most specific rule wins — subclass before major class before every category, and at each of these a rule for
the case's source before one for every source —; a case that no rule covers is not published.

Nothing personal ever leaves through here: never the reporter, the contact details, the address typed in
unless the point itself is published exactly, nor notes of the case log. A snapped point is the point on the
surface of the cell or street (its centre for the regular cells of a lattice), computed by PostGIS.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.gis.db.models.functions import PointOnSurface
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from grids.models import Area, Cell

from .models import Case, CaseLog, Category, Photo, Precision, PublicationRule, Source, Status


@dataclass(frozen=True)
class Decision:
    published: bool
    precision: str = Precision.CELL
    show_description: bool = False
    show_photos: bool = False


UNPUBLISHED = Decision(False)

# The case's status as the public reads it (some internal steps, such as a bureau returning a case to the
# command centre, are nobody else's business).
PUBLIC_STATUS = {
    Status.REPORTED: gettext_lazy("Received"), Status.REGISTERED: gettext_lazy("Accepted for handling"),
    Status.RETURNED: gettext_lazy("Accepted for handling"), Status.DISPATCHED: gettext_lazy("Sent to the bureau"),
    Status.IN_PROGRESS: gettext_lazy("Being fixed"), Status.POSTPONED: gettext_lazy("Being fixed"),
    Status.PROCESSED: gettext_lazy("Fixed, to be checked"), Status.VERIFIED: gettext_lazy("Fix checked"),
    Status.CLOSED: gettext_lazy("Closed"), Status.REJECTED: gettext_lazy("Not accepted"),
    Status.CANCELLED: gettext_lazy("Withdrawn"), Status.MERGED: gettext_lazy("Joined to an earlier report"),
}
# The steps of the log the public sees, in its words; every other entry (routing, warnings, escalations, returns,
# callbacks, unit movements) stays internal. Notes never leave.
PUBLIC_STEPS = {
    "report": gettext_lazy("Received"), "register": gettext_lazy("Accepted for handling"),
    "dispatch": gettext_lazy("Sent to %(bureau)s"), "accept": gettext_lazy("Taken up by %(bureau)s"),
    "approve_postponement": gettext_lazy("More time granted"), "process": gettext_lazy("Reported fixed"),
    "verify_pass": gettext_lazy("Fix checked on site"), "verify_fail": gettext_lazy("Not fixed yet: back to work"),
    "close": gettext_lazy("Closed"), "reject": gettext_lazy("Not accepted"), "cancel": gettext_lazy("Withdrawn"),
    "merge": gettext_lazy("Joined to an earlier report of the same problem"),
    "reopen": gettext_lazy("Reopened: the fix is being redone"),
}
OPEN311_CLOSED = frozenset({Status.CLOSED, Status.REJECTED, Status.CANCELLED, Status.MERGED})

# What the city ships (a migration loads it; the administrator changes it in the admin): every case at the
# precision of its grid cell, hotline cases (a caller often reports at his own door) only to the street, never
# descriptions (they name people and addresses). Not published: illegal structures (internal enforcement),
# vagrancy and traffic accidents (about people), civil air defence works and major hazard installations.
DEFAULT_RULES = (
    (None, "", True, Precision.CELL, "城市公开的默认规则：定位到单元网格"),
    (None, Source.HOTLINE_12345, True, Precision.STREET, "热线来电多涉及来电人住处：只定位到街道"),
    (None, Source.HOTLINE_12319, True, Precision.STREET, "热线来电多涉及来电人住处：只定位到街道"),
    ("SJ0101", "", False, Precision.CELL, "违法建设：内部执法，不公开"),
    ("SJ0507", "", False, Precision.CELL, "涉及个人，不公开"),
    ("SJ0407", "", False, Precision.CELL, "涉及个人，不公开"),
    ("BJ0502", "", False, Precision.CELL, "安全原因，不公开"),
    ("BJ0601", "", False, Precision.CELL, "安全原因，不公开"),
)


def load_default_rules(rule_model=PublicationRule, category_model=Category) -> int:
    """Create the shipped rules that are missing (an existing rule for the same key is kept as it is)."""
    made = 0
    for code, source, published, precision, note in DEFAULT_RULES:
        category = category_model.objects.filter(code=code).first() if code else None
        if code and category is None:
            continue
        _, created = rule_model.objects.get_or_create(category=category, source=str(source), defaults={
            "published": published, "precision": str(precision), "note": note})
        made += created
    return made


class Rules:
    """The publication rules, read once for many cases (one request)."""

    def __init__(self) -> None:
        self._rules = {(r.category_id, r.source): Decision(r.published, r.precision, r.show_description, r.show_photos)
                       for r in PublicationRule.objects.all()}
        self._major = dict(Category.objects.filter(parent__isnull=False).values_list("id", "parent_id"))

    def decide(self, category_id: int, source: str) -> Decision:
        """The most specific rule for a subclass and a source; unpublished when none applies."""
        major = self._major.get(category_id)
        keys = [(category_id, source), (category_id, "")]
        if major is not None:
            keys += [(major, source), (major, "")]
        keys += [(None, source), (None, "")]
        return next((self._rules[k] for k in keys if k in self._rules), UNPUBLISHED)

    def published(self) -> Q:
        """The published cases as a filter: (source, subclasses) pairs, one IN list per source."""
        condition = Q(pk__in=[])
        for source in Source.values:
            ids = [c for c in self._major if self.decide(c, source).published]
            if ids:
                condition |= Q(source=source, category_id__in=ids)
        return condition


def published_cases(qs: QuerySet | None = None, rules: Rules | None = None) -> QuerySet:
    """The cases the public may see listed (Open311 GET, the public map)."""
    qs = Case.objects.all() if qs is None else qs
    return qs.filter((rules or Rules()).published())


@dataclass
class PublicCase:
    """A case as the public may see it, under the rule: the only shape that leaves for the public."""

    number: str
    published: bool
    category_code: str
    category_name: str
    status: str
    status_label: str
    open311_status: str
    created_at: datetime
    updated_at: datetime
    precision: str | None = None
    lon: float | None = None
    lat: float | None = None
    place: str = ""
    description: str = ""
    bureau: str = ""
    expected_at: datetime | None = None
    show_photos: bool = False
    _case: Case | None = field(default=None, repr=False)

    def feature(self) -> dict:
        """GeoJSON for the public map."""
        return {"type": "Feature", "id": self.number,
                "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]} if self.lon is not None else None,
                "properties": {"number": self.number, "category": self.category_code,
                               "category_name": self.category_name, "status": self.status,
                               "status_label": str(self.status_label), "open": self.open311_status == "open",
                               "place": self.place, "description": self.description,
                               "precision": self.precision,
                               # in the city's time zone, as the people who read it live
                               "created_at": timezone.localtime(self.created_at).isoformat(),
                               "updated_at": timezone.localtime(self.updated_at).isoformat()}}


def _anchors(model, ids: Iterable[int]) -> dict[int, tuple[float, float]]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = model.objects.filter(pk__in=ids).annotate(anchor=PointOnSurface("geom")).values_list("pk", "anchor")
    return {pk: (p.x, p.y) for pk, p in rows}


def _names(*areas) -> str:
    return " ".join(a.name for a in areas if a is not None)


def _anchor_area(case: Case, precision: str) -> int:
    """The area whose point stands for the case: its street (precision street), or the deepest area it has
    when it lies in no cell."""
    if precision == Precision.STREET:
        return case.street_id or case.district_id
    return case.community_id or case.street_id or case.district_id


def disclose(cases: Sequence[Case], rules: Rules | None = None) -> list[PublicCase]:
    """Each case as the public may see it. Pass cases with category, cell, community, street, district and
    bureau selected (`public_related`): no query per case, one per kind of anchor."""
    rules = rules or Rules()
    decided = [(c, rules.decide(c.category_id, c.source)) for c in cases]
    shown = [(c, d) for c, d in decided if d.published and d.precision != Precision.EXACT]
    cells = _anchors(Cell, (c.cell_id for c, d in shown if d.precision == Precision.CELL))
    areas = _anchors(Area, (_anchor_area(c, d.precision) for c, d in shown
                            if d.precision == Precision.STREET or not c.cell_id))
    out = []
    for case, decision in decided:
        public = PublicCase(
            number=case.number, published=decision.published, category_code=case.category.code,
            category_name=case.category.name_zh, status=case.status, status_label=PUBLIC_STATUS[case.status],
            open311_status="closed" if case.status in OPEN311_CLOSED else "open", created_at=case.created_at,
            updated_at=case.updated_at, _case=case)
        out.append(public)
        if not decision.published:
            continue
        public.precision, public.show_photos = decision.precision, decision.show_photos
        public.bureau = case.bureau.name if case.bureau_id else ""
        public.expected_at = case.deadline if case.status not in OPEN311_CLOSED else None
        public.description = case.description if decision.show_description else ""
        if decision.precision == Precision.EXACT:
            public.lon, public.lat = case.location.x, case.location.y
            public.place = case.address or _names(case.district, case.street, case.community)
            continue
        if decision.precision == Precision.CELL and case.cell_id:
            anchor = cells.get(case.cell_id)
        else:
            anchor = areas.get(_anchor_area(case, decision.precision))
        public.lon, public.lat = anchor or (None, None)
        public.place = (_names(case.district, case.street) if decision.precision == Precision.STREET
                        else _names(case.district, case.street, case.community))
    return out


PUBLIC_RELATED = ("category", "community", "street", "district", "bureau")
# What disclosing reads, and nothing else: a list of a thousand cases costs a third of loading them whole, and
# the contact details are never even fetched.
_PUBLIC_FIELDS = ("number", "location", "address", "description", "source", "status", "created_at", "updated_at",
                  "deadline", "category_id", "cell_id", "community_id", "street_id", "district_id", "bureau_id",
                  "merged_into_id", "category__code", "category__name_zh", "community__name", "street__name",
                  "district__name", "bureau__name")


def public_related(qs: QuerySet) -> QuerySet:
    return qs.select_related(*PUBLIC_RELATED).only(*_PUBLIC_FIELDS)


def steps(case: Case) -> list[dict]:
    """The case's public history: the steps of its log the public sees, when and by which bureau; a case
    joined to another (merged) continues with the steps of that one after the merge. Never notes or names."""
    entries = list(CaseLog.objects.filter(case=case).select_related("bureau").order_by("created_at", "id"))
    if case.status == Status.MERGED and case.merged_into_id:
        merged_at = entries[-1].created_at if entries else case.created_at
        entries += list(CaseLog.objects.filter(case_id=case.merged_into_id, created_at__gt=merged_at)
                        .select_related("bureau").order_by("created_at", "id"))
    out = []
    for entry in entries:
        label = PUBLIC_STEPS.get(entry.action)
        if label is None:
            continue
        bureau = entry.bureau.name if entry.bureau_id else _("the responsible bureau")
        out.append({"action": entry.action, "at": entry.created_at, "label": str(label) % {"bureau": bureau}})
    return out


def work_case(case: Case) -> Case:
    """The case that carries the work: the case itself, or the one it was joined to."""
    if case.status == Status.MERGED and case.merged_into_id:
        return Case.objects.select_related(*PUBLIC_RELATED).get(pk=case.merged_into_id)
    return case


def verified_after_photos(case: Case, decision: Decision | None = None) -> list[Photo]:
    """The photos of the fix, once an inspector has verified it (the case verified or closed) and if the rule
    shows photos: those of the last processing report, which that verification passed."""
    decision = decision or Rules().decide(case.category_id, case.source)
    if not (decision.published and decision.show_photos) or case.status not in (Status.VERIFIED, Status.CLOSED):
        return []
    last = CaseLog.objects.filter(case=case, action="process").order_by("-created_at", "-id").first()
    if last is None:
        return []
    return list(Photo.objects.filter(case=case, log_entry=last, kind=Photo.Kind.AFTER).order_by("id"))

"""Which bureau a case goes to: the most specific active routing rule that matches it (FixMyStreet's
"body responsible for the area", with classes, urgency and time of day). No match: the command centre's
manual queue."""

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Q
from django.utils import timezone

from grids.models import Level
from incidents.models import Case

from .models import RoutingRule

_SCOPE_RANK = {None: 0, Level.CITY: 1, Level.DISTRICT: 2, Level.STREET: 3, Level.COMMUNITY: 4}
CELL_RANK = 5


def specificity(rule: RoutingRule) -> tuple[int, int, int, int]:
    """Scope first (cell > community > street > district > city > anywhere), then a subclass over a class,
    then a rule for one urgency, then one for a time of day."""
    scope = CELL_RANK if rule.cell_id else _SCOPE_RANK[rule.area.level if rule.area_id else None]
    return scope, int(rule.category.parent_id is not None), int(bool(rule.urgency)), int(rule.active_from is not None)


def _in_window(rule: RoutingRule, at: time) -> bool:
    if rule.active_from is None:
        return True
    if rule.active_from < rule.active_until:
        return rule.active_from <= at < rule.active_until
    return at >= rule.active_from or at < rule.active_until  # a window across midnight


def _windows_overlap(a: RoutingRule, b: RoutingRule) -> bool:
    if a.active_from is None or b.active_from is None:
        return a.active_from is None and b.active_from is None
    minutes = range(0, 24 * 60, 1)
    return any(_in_window(a, t) and _in_window(b, t) for t in (time(m // 60, m % 60) for m in minutes))


def conflicting_rule(rule: RoutingRule) -> RoutingRule | None:
    """An active rule that would tie with `rule` on some case: same category, scope, urgency and priority,
    and time windows that overlap."""
    if not rule.active or not rule.category_id:
        return None
    others = RoutingRule.objects.filter(active=True, category_id=rule.category_id, area_id=rule.area_id,
                                        cell_id=rule.cell_id, urgency=rule.urgency, priority=rule.priority)
    if rule.pk:
        others = others.exclude(pk=rule.pk)
    return next((o for o in others if _windows_overlap(o, rule)), None)


@dataclass(frozen=True)
class Decision:
    rule: RoutingRule | None
    bureau_id: int | None
    explanation: str


def describe(rule: RoutingRule) -> str:
    parts = [f"rule #{rule.pk}: {rule.category.name_zh}"]
    if rule.cell_id:
        parts.append(f"in cell {rule.cell.code}")
    elif rule.area_id:
        parts.append(f"in {rule.area.name}")
    if rule.urgency:
        parts.append(f"({rule.get_urgency_display()})")
    if rule.active_from is not None:
        parts.append(f"{rule.active_from:%H:%M}–{rule.active_until:%H:%M}")
    return " ".join(parts) + f" → {rule.bureau.name}"


def route(case: Case, at: datetime | None = None) -> Decision:
    local = timezone.localtime(at or timezone.now()).time()
    areas = [a for a in (case.district_id, case.street_id, case.community_id) if a]
    if case.district_id:
        areas.append(case.district.parent_id)
    candidates = (RoutingRule.objects.filter(active=True, bureau__active=True)
                  .filter(Q(category_id=case.category_id) | Q(category_id=case.category.parent_id))
                  .filter(Q(area__isnull=True, cell__isnull=True) | Q(area_id__in=areas) | Q(cell_id=case.cell_id))
                  .filter(Q(urgency="") | Q(urgency=case.urgency))
                  .select_related("category", "area", "cell", "bureau"))
    matching = [r for r in candidates if _in_window(r, local)]
    if not matching:
        return Decision(None, None, f"no rule for {case.category.name_zh} here: manual queue")
    best = max(matching, key=lambda r: (specificity(r), r.priority))
    return Decision(best, best.bureau_id, describe(best))

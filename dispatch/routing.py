"""Which bureau a case goes to: the most specific active routing rule that matches it (FixMyStreet's
"body responsible for the area", with classes, urgency and time of day). No match: the command centre's
manual queue."""

from dataclasses import dataclass
from datetime import datetime, time

from django.conf import settings
from django.utils import timezone

from grids.models import Area, Bureau, Level
from incidents.models import Case, Category

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


URGENCY_ZH = {"emergency": "特急", "urgent": "紧急", "normal": "一般"}


def describe(rule: RoutingRule) -> str:
    """The rule as the case log keeps it, in Chinese like the rest of the log (written once, read by everyone):
    路由规则 12：路灯，雨湖区 → 国网湘潭供电公司."""
    parts = [rule.category.name_zh]
    if rule.cell_id:
        parts.append(f"网格 {rule.cell.code}")
    elif rule.area_id:
        parts.append(rule.area.name)
    if rule.urgency:
        parts.append(URGENCY_ZH.get(rule.urgency, rule.urgency))
    if rule.active_from is not None:
        parts.append(f"{rule.active_from:%H:%M}–{rule.active_until:%H:%M}")
    return f"路由规则 {rule.pk}：" + "，".join(parts) + f" → {rule.bureau.name}"


class RuleBook:
    """The active rules, loaded once, matched in memory: routing 100,000 cases costs one query."""

    def __init__(self) -> None:
        self.by_category: dict[int, list[RoutingRule]] = {}
        for rule in (RoutingRule.objects.filter(active=True, bureau__active=True)
                     .select_related("category", "area", "cell", "bureau")):
            self.by_category.setdefault(rule.category_id, []).append(rule)
        # Every generation's districts: a case keeps the district row of its time.
        self.city_of = dict(Area.objects.filter(level=Level.DISTRICT).values_list("pk", "parent_id"))
        self.parent_of = dict(Category.objects.filter(parent__isnull=False).values_list("pk", "parent_id"))

    def route(self, case: Case, at: datetime | None = None) -> Decision:
        decision = self._by_rules(case, at)
        if case.component_id and settings.ROUTE_BY_COMPONENT and not (decision.rule and decision.rule.over_component):
            # The census names who is in charge of this very object (主管部门): that beats an area's rule.
            bureau = (Bureau.objects.filter(components__pk=case.component_id, active=True)
                      .values_list("pk", "name").first())
            if bureau is not None:
                code = case.component.code
                return Decision(None, bureau[0], f"部件 {code} 的主管部门 → {bureau[1]}")
        return decision

    def _by_rules(self, case: Case, at: datetime | None = None) -> Decision:
        local = timezone.localtime(at or timezone.now()).time()
        areas = {case.district_id, case.street_id, case.community_id, self.city_of.get(case.district_id)} - {None}
        rules = [*self.by_category.get(case.category_id, ()),
                 *self.by_category.get(self.parent_of.get(case.category_id), ())]
        matching = [r for r in rules
                    if (r.cell_id == case.cell_id if r.cell_id else (r.area_id in areas if r.area_id else True))
                    and r.urgency in ("", case.urgency) and _in_window(r, local)]
        if not matching:
            return Decision(None, None, f"{case.category.name_zh}：此处没有路由规则，由派遣员人工派遣")
        best = max(matching, key=lambda r: (specificity(r), r.priority))
        return Decision(best, best.bureau_id, describe(best))


def route(case: Case, at: datetime | None = None) -> Decision:
    return RuleBook().route(case, at)

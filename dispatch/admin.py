from django.contrib import admin

from .models import CalendarDay, DispatchPolicy, Escalation, RoutingDecision, RoutingRule, WorkPeriod


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ["pk", "category", "area", "cell", "urgency", "active_from", "active_until", "bureau", "priority",
                    "active"]
    list_filter = ["active", "bureau", "category__parent"]
    search_fields = ["category__code", "category__name_zh", "area__name", "cell__code", "bureau__name"]
    autocomplete_fields = ["area", "cell"]
    list_select_related = ["category", "area", "cell", "bureau"]


@admin.register(DispatchPolicy)
class DispatchPolicyAdmin(admin.ModelAdmin):
    list_display = ["category", "auto_dispatch"]
    list_editable = ["auto_dispatch"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name"]
    list_filter = ["kind"]
    date_hierarchy = "date"


@admin.register(WorkPeriod)
class WorkPeriodAdmin(admin.ModelAdmin):
    list_display = ["start", "end"]


@admin.register(RoutingDecision)
class RoutingDecisionAdmin(admin.ModelAdmin):
    list_display = ["case", "bureau", "explanation", "decided_at"]
    readonly_fields = ["case", "rule", "bureau", "explanation", "decided_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["case", "level", "deadline", "created_at"]
    list_filter = ["level"]
    readonly_fields = ["case", "level", "deadline", "notified", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy

from .models import (
    CalendarDay,
    DispatchPolicy,
    Escalation,
    EvaluationWeight,
    ResponseUnit,
    RoutingDecision,
    RoutingRule,
    StageLimit,
    UnitAssignment,
    WorkPeriod,
)


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


# Response units, their assignments, evaluation weights and stage limits (issue 22). Who may edit them:
# citygrid.roles.ROLE_PERMISSIONS (the system administrator: dispatch.*).
@admin.register(ResponseUnit)
class ResponseUnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "bureau", "district", "crew_size", "state", "account", "position_at"]
    list_filter = ["state", "kind", "bureau", "district"]
    search_fields = ["code", "name", "bureau__name"]
    autocomplete_fields = ["bureau", "district"]
    list_select_related = ["bureau", "district", "account"]
    fields = ["code", "name", "kind", "bureau", "district", "crew_size", "state", "account", "last_position",
              "position_at"]
    readonly_fields = ["last_position", "position_at"]  # reported by the crew's phone, never typed in

    @admin.display(description=gettext_lazy("position"))
    def last_position(self, unit: ResponseUnit) -> str:
        return f"{unit.position.x:.6f}, {unit.position.y:.6f}" if unit.position else "–"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":  # only bureau staff can be a crew's phone (checked again on save)
            from django.contrib.auth.models import User

            kwargs["queryset"] = User.objects.filter(groups__name="bureau_staff", is_active=True).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(UnitAssignment)
class UnitAssignmentAdmin(admin.ModelAdmin):
    """Read-only: units are sent from the console and step from the crews' phones, each step in the case log."""

    list_display = ["unit", "case", "dispatched_at", "acknowledged_at", "arrived_at", "cleared_at"]
    list_filter = ["unit__bureau"]
    search_fields = ["unit__code", "unit__name", "case__number"]
    list_select_related = ["unit", "case"]
    date_hierarchy = "dispatched_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EvaluationWeightForm(forms.ModelForm):
    class Meta:
        model = EvaluationWeight
        fields = ["metric", "weight"]

    def __init__(self, *args, **kwargs):
        from .evaluation import DEFAULT_WEIGHTS, INSPECTOR_WEIGHTS, METRIC_LABELS

        super().__init__(*args, **kwargs)
        # The indicators the evaluation computes, and nothing else (a misspelt one would silently weigh nothing).
        self.fields["metric"] = forms.ChoiceField(label=self.fields["metric"].label,
                                                  choices=[(m, METRIC_LABELS.get(m, m))
                                                           for m in (*DEFAULT_WEIGHTS, *INSPECTOR_WEIGHTS)])

    def clean_weight(self) -> float:
        from django.utils.translation import gettext as _

        weight = self.cleaned_data["weight"]
        if weight < 0:
            raise forms.ValidationError(_("A weight cannot be negative (0 leaves the indicator out)."))
        return weight


@admin.register(EvaluationWeight)
class EvaluationWeightAdmin(admin.ModelAdmin):
    form = EvaluationWeightForm
    list_display = ["metric", "weight"]
    list_editable = ["weight"]


@admin.register(StageLimit)
class StageLimitAdmin(admin.ModelAdmin):
    list_display = ["stage", "urgency", "hours"]
    list_filter = ["stage"]

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DispatchConfig(AppConfig):
    """Routing cases to bureaus, deadlines, escalation and emergency command."""

    name = "dispatch"
    verbose_name = _("Dispatch and command")

    def ready(self) -> None:
        from incidents.lifecycle import set_stage_deadline

        from . import receivers  # noqa: F401  (connects the transition receivers)
        from .scoping import register_scopes
        from .stages import stage_deadline

        register_scopes()
        from incidents.archive import register_archive_guard

        # A crew not cleared from a case is still busy with it: archiving the assignment would free the crew.
        register_archive_guard("crew assignment(s) not cleared", """
            SELECT count(*), min(c.number) FROM dispatch_unitassignment a JOIN incidents_case c ON c.id = a.case_id
            WHERE c.created_at < %(upto)s AND a.cleared_at IS NULL""")
        register_unit_labels()
        set_stage_deadline(stage_deadline)  # verification reports whether it came within its stage limit
        register_satisfaction()
        from grids.generations import register_live_reference

        # Rules and a unit's home follow a new boundary generation; cases, tallies and bulletins keep theirs.
        for label, field in (("dispatch.RoutingRule", "area"), ("dispatch.RoutingRule", "cell"),
                             ("dispatch.ResponseUnit", "district")):
            register_live_reference(label, field)


def register_satisfaction() -> None:
    """满意率 from the hotline desk's callbacks joins the evaluation of bureaus and districts (its weight is data:
    EvaluationWeight `satisfaction_rate`); a unit nobody answered a callback for has no rate, and the score
    leaves it out."""
    from incidents.satisfaction import satisfaction_rates

    from .evaluation import register_rate

    def rates(dimension: str, start, end, district_id: int | None) -> dict:
        if dimension not in ("bureau", "district"):
            return {}
        return {key: figures.rate for key, figures in satisfaction_rates(dimension, start, end, district_id).items()}

    register_rate("satisfaction_rate", rates)


def register_unit_labels() -> None:
    """The response units' audit actions as the auditor reads them."""
    from citygrid.audit import register_action_labels, register_target_labels
    from incidents.actions import LIFECYCLE_ACTIONS

    from .models import ResponseUnit

    register_action_labels({"unit_created": _("Unit created"), "unit_duty": _("Unit on or off duty"),
                            "unit_position": _("Unit position reported"),
                            **{code: label for code, label in LIFECYCLE_ACTIONS.items() if code.startswith("unit")}})
    register_target_labels({"unit": ResponseUnit._meta.verbose_name})

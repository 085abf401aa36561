from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmergencyConfig(AppConfig):
    """Emergency command (应急指挥, issue 17): incidents above the cases, headquarters, plans and their tasks,
    emergency resources, the incident board, situation reports and drills. Top of the layering: it reads grids,
    assets, incidents, dispatch and monitoring; only the pages import it."""

    name = "emergency"
    verbose_name = _("Emergency command")

    def ready(self) -> None:
        from grids.generations import register_live_reference

        from .scoping import register_scopes

        register_scopes()
        from incidents.archive import register_archive_guard

        # An emergency still under way keeps its cases on its board.
        register_archive_guard("link(s) to an emergency still under way", """
            SELECT count(*), min(c.number) FROM emergency_incidentcase l
            JOIN emergency_incident i ON i.id = l.incident_id JOIN incidents_case c ON c.id = l.case_id
            WHERE c.created_at < %(upto)s AND i.status <> 'ended'""")
        from citygrid.audit import register_action_labels, register_target_labels

        from .board import ACTION_LABELS
        from .models import Incident

        # The audit page's incident_level_up, incident_task_done…: the incident log's labels.
        # (the activation is recorded as incident_plan: its log's code would list the label twice in the search)
        labels = {code: label for code, label in ACTION_LABELS.items() if code != "plan_activated"}
        register_action_labels({**labels, "plan": ACTION_LABELS["plan_activated"]}, prefix="incident_")
        register_target_labels({"incident": Incident._meta.verbose_name})
        # A headquarters works for its district as it is now: the plan chosen for an incident compares them.
        register_live_reference("emergency.Headquarters", "district")

    def scheduled_jobs(self) -> list:
        """Run by dispatch's scheduler: overdue incident tasks escalate (督办) as overdue cases do."""
        from .command import escalate_overdue_tasks

        def overdue() -> str:
            return f"incident tasks: {escalate_overdue_tasks()} escalated"

        return [("incident-tasks-overdue", overdue, {"trigger": "interval", "seconds": 60})]

    def load_demo(self) -> str:
        """load_demo's part: headquarters, plans and emergency resources of Xiangtan (idempotent)."""
        from .demo import load_demo_emergency

        return load_demo_emergency()

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IncidentsConfig(AppConfig):
    """Cases: intake, the standard catalogue, the closed-loop lifecycle."""

    name = "incidents"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import audit_trail
        from .catalogue import forget_cached
        from .models import Case, Category, Source, Status, TimeLimit
        from .scoping import register_scopes

        register_scopes()
        audit_trail.connect()
        from citygrid.audit import register_action_labels, register_detail_words, register_target_labels

        from .actions import LIFECYCLE_ACTIONS
        from .lifecycle import RULES

        # The audit page's case_close: 结案 (the steps, the report and the callback are recorded as case_…).
        register_action_labels({code: LIFECYCLE_ACTIONS[code] for code in (*RULES, "report", "callback")},
                               prefix="case_")
        register_target_labels({"case": Case._meta.verbose_name})
        # A step's detail names the statuses ("registered → dispatched"), a report's its source.
        register_detail_words({**dict(Status.choices), **dict(Source.choices)}, prefix="case_")

        # This process forgets its cached catalogue at once on an edit; other processes within 30 s.
        for model in (Category, TimeLimit):
            post_save.connect(lambda **kw: forget_cached(), sender=model, weak=False)
            post_delete.connect(lambda **kw: forget_cached(), sender=model, weak=False)

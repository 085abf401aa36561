"""The case log's action names as a person reads them (the log, the pages, the refusals of a step): the code
stays in the data and the API, the label is what is shown."""

from django.utils.translation import gettext_lazy

LIFECYCLE_ACTIONS = {  # every action name a case log or a page shows, as a person reads it
    "report": gettext_lazy("Reported"), "register": gettext_lazy("Register"), "route": gettext_lazy("Routed"),
    "reject": gettext_lazy("Do not register"), "dispatch": gettext_lazy("Dispatch"), "accept": gettext_lazy("Accept"),
    "return": gettext_lazy("Return"), "request_postponement": gettext_lazy("Request postponement"),
    "approve_postponement": gettext_lazy("Approve postponement"),
    "deny_postponement": gettext_lazy("Deny postponement"),
    "process": gettext_lazy("Report processed"), "verify_pass": gettext_lazy("Verified: fixed"),
    "verify_fail": gettext_lazy("Verified: not fixed"), "close": gettext_lazy("Close"),
    "cancel": gettext_lazy("Cancel"), "merge": gettext_lazy("Merge"), "warn": gettext_lazy("Near-due warning"),
    "escalate": gettext_lazy("Escalated (督办)"), "units_sent": gettext_lazy("Units sent"),
    "unit_acknowledge": gettext_lazy("Unit acknowledged"), "unit_arrive": gettext_lazy("Unit arrived"),
    "unit_clear": gettext_lazy("Unit cleared"),
    "reopen": gettext_lazy("Reopened as rework"), "callback": gettext_lazy("Called back"),
    "sensor_level": gettext_lazy("Sensor level changed"), "sensor_clear": gettext_lazy("Sensor back to normal"),
    "sensor_back": gettext_lazy("Sensor reports again"),
}


def action_labels() -> dict[str, str]:
    return {k: str(v) for k, v in LIFECYCLE_ACTIONS.items()}


def step_label(action: str) -> str:
    """A case log step's action as a person reads it (the audit trail's actions have theirs in citygrid.audit);
    an action with no label shows as its code."""
    return str(LIFECYCLE_ACTIONS.get(action, action))

"""Case actions in the security audit trail too (with the address they came from), written in the action's
own transaction: the case log says what happened to a case, the audit trail who did what from where."""

from citygrid.audit import record

from .lifecycle import transitioned
from .models import Case


def _case_action(sender, case, action: str, actor, entry, **kwargs) -> None:
    record(f"case_{action}", user=actor, target=f"case: {case.number}",
           detail=f"{entry.from_status} → {entry.to_status}")


def connect() -> None:
    transitioned.connect(_case_action, sender=Case, dispatch_uid="incidents-audit-case-actions")

"""The deadline of the stage a case is in: registration, dispatch and verification by the stage limits,
processing by the subclass's time limit (the case's `deadline`), all in working time."""

from datetime import datetime

from incidents.models import Case, CaseLog, Status

from .calendar import WorkingCalendar
from .models import StageLimit

STAGE_OF = {Status.REPORTED: StageLimit.Stage.REGISTER, Status.REGISTERED: StageLimit.Stage.DISPATCH,
            Status.RETURNED: StageLimit.Stage.DISPATCH, Status.PROCESSED: StageLimit.Stage.VERIFY}
PROCESSING = {Status.DISPATCHED, Status.IN_PROGRESS, Status.POSTPONED}


class StageLimits:
    """The stage limits and the calendar, loaded once for many cases."""

    def __init__(self) -> None:
        self.hours = {(s.stage, s.urgency): s.hours for s in StageLimit.objects.all()}
        self.calendar = WorkingCalendar.load()

    def deadline(self, case: Case, entered_at: datetime | None) -> tuple[str | None, datetime | None]:
        """(stage, its deadline) for the case's current status; entered_at is when it reached that status."""
        if case.status in PROCESSING:
            return "process", case.deadline
        stage = STAGE_OF.get(case.status)
        if stage is None or entered_at is None:
            return None, None
        hours = self.hours.get((stage, case.urgency), self.hours.get((stage, "")))
        if hours is None:
            return stage, None
        return stage, self.calendar.add(entered_at, hours=hours)


def entered_status_at(case: Case) -> datetime | None:
    return (CaseLog.objects.filter(case=case, to_status=case.status).exclude(from_status=case.status)
            .order_by("-id").values_list("created_at", flat=True).first())

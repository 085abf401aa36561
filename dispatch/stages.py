"""The deadline of the stage a case is in: registration, dispatch and verification by the stage limits,
processing by the subclass's time limit (the case's `deadline`), all in working time."""

from datetime import datetime

from incidents.models import Case, Status

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

    def deadline(self, case: Case) -> tuple[str | None, datetime | None]:
        """(stage, its deadline) for the case's current status, counted from when it reached that status."""
        if case.status in PROCESSING:
            return "process", case.deadline
        stage = STAGE_OF.get(case.status)
        if stage is None:
            return None, None
        hours = self.hours.get((stage, case.urgency), self.hours.get((stage, "")))
        if hours is None:
            return stage, None
        return stage, self.calendar.add(case.status_since, hours=hours)


def stage_deadline(case: Case) -> datetime | None:
    """The deadline of the stage the case is in now (registration, dispatch, verification), for the lifecycle to
    judge the step that ends it; None for processing, which has the case's own deadline."""
    stage, deadline = StageLimits().deadline(case)
    return None if stage == "process" else deadline
